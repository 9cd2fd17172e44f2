// RuntimeService: every RPC of CRI runtime.v1 (server.ts would answer one without a handler with UNIMPLEMENTED).
import { checkpointContainer } from './container-checkpoint.js';
import { createContainer } from './container-create.js';
import { getContainerEvents } from './container-events.js';
import { execSync } from './container-exec-sync.js';
import { listContainers, streamContainers } from './container-list.js';
import { removeContainer } from './container-remove.js';
import { reopenContainerLog } from './container-reopen-log.js';
import { startContainer } from './container-start.js';
import { containerStatus } from './container-status.js';
import { stopContainer } from './container-stop.js';
import { updateContainerResources } from './container-update.js';
import { serverStream, unary, type HandlerContext, type RpcHandlers } from './grpc/handler.js';
import { runtimeConfig, updateRuntimeConfig } from './runtime-config.js';
import { status } from './runtime-status.js';
import { version } from './runtime-version.js';
import { listPodSandbox, streamPodSandboxes } from './sandbox-list.js';
import { removePodSandbox } from './sandbox-remove.js';
import { runPodSandbox } from './sandbox-run.js';
import { podSandboxStatus } from './sandbox-status.js';
import { stopPodSandbox } from './sandbox-stop.js';
import { updatePodSandboxResources } from './sandbox-update.js';
import type { Services } from './services.js';
import { statsHandlers } from './stats-handlers.js';
import { streamingHandlers } from './streaming-handlers.js';

export function runtimeServiceHandlers(ctx: HandlerContext, s: Services): RpcHandlers {
  return {
    Version: unary(ctx, 'Version', version(s)),
    Status: unary(ctx, 'Status', status(s)),
    RuntimeConfig: unary(ctx, 'RuntimeConfig', runtimeConfig(s)),
    UpdateRuntimeConfig: unary(ctx, 'UpdateRuntimeConfig', updateRuntimeConfig(s)),
    RunPodSandbox: unary(ctx, 'RunPodSandbox', runPodSandbox(s)),
    StopPodSandbox: unary(ctx, 'StopPodSandbox', stopPodSandbox(s)),
    RemovePodSandbox: unary(ctx, 'RemovePodSandbox', removePodSandbox(s)),
    PodSandboxStatus: unary(ctx, 'PodSandboxStatus', podSandboxStatus(s)),
    ListPodSandbox: unary(ctx, 'ListPodSandbox', listPodSandbox(s)),
    StreamPodSandboxes: serverStream(ctx, 'StreamPodSandboxes', streamPodSandboxes(s)),
    UpdatePodSandboxResources: unary(ctx, 'UpdatePodSandboxResources', updatePodSandboxResources(s)),
    CreateContainer: unary(ctx, 'CreateContainer', createContainer(s)),
    StartContainer: unary(ctx, 'StartContainer', startContainer(s)),
    StopContainer: unary(ctx, 'StopContainer', stopContainer(s)),
    RemoveContainer: unary(ctx, 'RemoveContainer', removeContainer(s)),
    ListContainers: unary(ctx, 'ListContainers', listContainers(s)),
    StreamContainers: serverStream(ctx, 'StreamContainers', streamContainers(s)),
    ContainerStatus: unary(ctx, 'ContainerStatus', containerStatus(s)),
    UpdateContainerResources: unary(ctx, 'UpdateContainerResources', updateContainerResources(s)),
    ReopenContainerLog: unary(ctx, 'ReopenContainerLog', reopenContainerLog(s)),
    ExecSync: unary(ctx, 'ExecSync', execSync(s)),
    GetContainerEvents: serverStream(ctx, 'GetContainerEvents', getContainerEvents(s)),
    CheckpointContainer: unary(ctx, 'CheckpointContainer', checkpointContainer(s)),
    ...statsHandlers(ctx, s),
    ...streamingHandlers(ctx, s),
  };
}
