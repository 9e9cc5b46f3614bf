/** The model: plain, frozen data shared by the config, plan and loop stages. */
export * from './desired-state.js';
export { ipv4ToNumber, compareIpv4, nonUnicastReason, nonUnicastReasonOf } from './ipv4.js';
export { deepFreeze } from './deep-freeze.js';
