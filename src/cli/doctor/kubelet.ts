// The kubelet's runtime endpoint must be this daemon's socket (its default is containerd's).
import { fail, ok, warn, type Check } from './check.js';
import { readKubeletConfig } from './kubelet-config.js';

export const kubeletEndpointCheck: Check = async (ctx) => {
  const path = ctx.host.kubeletConfig;
  const want = `unix://${ctx.config.socket.replace(/^unix:\/\//, '')}`;
  const fix = `set containerRuntimeEndpoint: ${want} in ${path} (kubeadm: --cri-socket ${want})`;
  const k = readKubeletConfig(path);
  if (k.error) return [warn('kubelet-endpoint', `${path} cannot be read: ${k.error}`, 'fix the KubeletConfiguration file')];
  if (!k.found) return [ok('kubelet-endpoint', `no kubelet config at ${path}; the kubelet must use containerRuntimeEndpoint ${want}`)];
  if (!k.containerRuntimeEndpoint) return [warn('kubelet-endpoint', `${path} sets no containerRuntimeEndpoint: the kubelet's default is containerd's socket`, fix)];
  const theirs = k.containerRuntimeEndpoint.startsWith('unix://') ? k.containerRuntimeEndpoint : `unix://${k.containerRuntimeEndpoint}`;
  if (theirs !== want) return [fail('kubelet-endpoint', `the kubelet talks to ${k.containerRuntimeEndpoint}, not nexcage's ${want}`, fix)];
  return [ok('kubelet-endpoint', `the kubelet uses ${want}`)];
};
