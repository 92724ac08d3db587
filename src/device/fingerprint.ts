import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {arch, cpus, platform, totalmem} from 'node:os'

export interface FingerprintInput {
  name: string
  /** Whether the attribute was found on this machine; its value is never shown. */
  present: boolean
}

/**
 * Attributes that survive reboots, updates and network changes (no host name, no IP or MAC
 * address); each read defensively, since containers and VMs lack some of them.
 */
function attributes(): Array<{name: string; value: string | null}> {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim() || null
    } catch {
      return null
    }
  }
  return [
    {name: 'machine-id', value: read('/etc/machine-id') ?? read('/var/lib/dbus/machine-id')},
    {name: 'product-uuid', value: read('/sys/class/dmi/id/product_uuid')},
    {name: 'board-serial', value: read('/sys/class/dmi/id/board_serial')},
    {name: 'platform', value: platform()},
    {name: 'architecture', value: arch()},
    {name: 'cpu-model', value: cpus()[0]?.model ?? null},
    {name: 'cpu-count', value: String(cpus().length)},
    {name: 'memory-gib', value: String(Math.round(totalmem() / 2 ** 30))},
  ]
}

/** This machine's fingerprint: a hash of stable attributes, in readable groups. */
export function machineFingerprint(): {fingerprint: string; inputs: FingerprintInput[]} {
  const attrs = attributes()
  const material = attrs.map((a) => `${a.name}=${a.value ?? ''}`).join('\n')
  const digest = createHash('sha256').update(`licadm-fingerprint-v1\n${material}`).digest('hex').slice(0, 32).toUpperCase()
  return {
    fingerprint: digest.match(/.{8}/g)!.join('-'),
    inputs: attrs.map((a) => ({name: a.name, present: a.value !== null})),
  }
}
