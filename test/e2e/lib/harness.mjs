// One place to bring up a provider simulator plus a sluice gateway in front of it.
import OpenAI from 'openai';
import { startProviderSim } from '../../tools/provider_sim.mjs';
import { getClosedPort } from './ports.mjs';
import { SIM_API_KEY, gatewayResources, standardRules, writeResourceFile } from './resources.mjs';
import { startSluice } from './sluice.mjs';

export { startProviderSim, SIM_API_KEY };

/**
 * Starts sim + sluice. Returns {sim, gw, client, resources, deadPort, close()}.
 * @param {object} [o]
 * @param {Array} [o.rules]      route rules (default: the standard four)
 * @param {string[]} [o.args]    extra sluice arguments
 * @param {object} [o.simOpts]   extra provider-sim options
 */
export async function startStack({ rules = standardRules(), args = [], simOpts = {} } = {}) {
  const stack = { sim: null, gw: null, resources: null };
  stack.close = async () => {
    if (stack.gw) await stack.gw.stop();
    if (stack.sim) await stack.sim.close();
    if (stack.resources) stack.resources.cleanup();
  };
  try {
    stack.sim = await startProviderSim({ apiKey: SIM_API_KEY, ...simOpts });
    stack.deadPort = await getClosedPort();
    stack.resources = writeResourceFile(gatewayResources({ simPort: stack.sim.port, deadPort: stack.deadPort, rules }));
    stack.gw = await startSluice({ resourceFile: stack.resources.file, args });
    stack.client = new OpenAI({ baseURL: stack.gw.baseURL, apiKey: 'sk-client-key-must-not-leak', maxRetries: 0, timeout: 20000 });
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}
