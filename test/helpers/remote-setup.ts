/** Setup of the "remote" vitest project: the servers of a test file stop with it. */
import {afterAll} from 'vitest'

import {stopRemoteServers} from './remote.js'

afterAll(stopRemoteServers)
