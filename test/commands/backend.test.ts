/**
 * Which backend the command suites ran on: this file runs in both vitest projects, and proves that
 * the "remote" one really sends the commands through a server (audit events name its token), and
 * that a remote command's output is the local one's.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {initVendor, ok, sandbox, type Sandbox} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'
import {REMOTE} from '../helpers/remote.js'

let sb: Sandbox
beforeAll(async () => {
  sb = sandbox('licadm-backend-')
  await initVendor({...sb, run: (args, o = {}) => runIn(sb, args, o.env)}, {products: [7]})
})
afterAll(() => sb?.cleanup())

describe(`commands on the ${REMOTE ? 'remote' : 'local'} backend`, () => {
  it('audit events name who acted: the OS user locally, the token through a server', async () => {
    ok(await runIn(sb, ['license', 'create', '--product', '7', '--json']))
    const events = ok(await runIn(sb, ['audit', 'list', '--action', 'license.create', '--json'])).events
    expect(events).toHaveLength(1)
    if (REMOTE) expect(events[0].actor).toBe('token:remote-suite')
    else expect(events[0].actor).toMatch(/^local:.*@default$/)
  })
})
