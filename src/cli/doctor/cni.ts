// Pod networking as the daemon will judge it (the same readiness code as CRI Status NetworkReady).
import { findNetworkConfig } from '../../runtime/network/cni/conflist.js';
import { checkNetworkReadiness } from '../../runtime/network/network-readiness.js';
import { fail, ok, warn, type Check } from './check.js';

export const cniCheck: Check = async (ctx) => {
  const { confDirs, binDirs, defaultNetwork } = ctx.config.cni;
  const r = await checkNetworkReadiness(confDirs, binDirs, { defaultNetwork });
  const found = r.reason === 'NetworkPluginInvalidConfig' ? undefined : await findNetworkConfig(confDirs).catch(() => undefined);
  if (r.ready) {
    if (found?.file) return [ok('cni', `${found.file} (network "${found.config.name}": ${found.config.plugins.map((p) => p.type).join(', ')}), plugins found in ${binDirs.join(', ')}`)];
    return [ok('cni', `no CNI config in ${confDirs.join(', ')}: pods use the built-in bridge network (cni.defaultNetwork, ${ctx.config.cni.defaultSubnet})`)];
  }
  if (r.reason === 'NetworkPluginInvalidConfig') return [fail('cni', r.message, 'fix or remove the CNI config file named above')];
  if (!found && !defaultNetwork) {
    return [warn('cni', `no CNI config in ${confDirs.join(', ')}: the node stays NotReady for pods until the cluster's network plugin writes one`, "install the cluster's CNI (its DaemonSet writes the config), or set cni.defaultNetwork to true for a stand-alone node")];
  }
  return [fail('cni', r.message, 'apt-get install containernetworking-plugins, or install the missing plugins into one of cni.binDirs')];
};
