/**
 * The plan stage (pure): DesiredState + LiveState -> ordered operations.
 * No fs, no timers, no libbpf: the kernel side reads LiveState
 * (src/datapath/read-live-state.ts) and applies operations (src/agent).
 */
export { planChanges, addressesLeaving } from './plan-changes.js';
export type { PlanContext, PlanResult, RetainedAddress } from './plan-changes.js';
export { PHASE_ORDER } from './operations.js';
export type * from './operations.js';
export type * from './live-state.js';
export { EMPTY_LIVE_STATE } from './live-state.js';
export { tableDigest } from './table-digest.js';
export { describeOperation, describePlan } from './describe-operation.js';
