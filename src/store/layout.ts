import {join} from 'node:path'

/**
 * Where a directory keeps a store and its vendor keys: a server's --data DIR (DIR/licadm.db,
 * DIR/keys), and a profile's data and config directories, each in its own place.
 */
export function storeFileIn(dir: string): string {
  return join(dir, 'licadm.db')
}

export function keyDirIn(dir: string): string {
  return join(dir, 'keys')
}
