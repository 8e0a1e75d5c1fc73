// The contract every side shares (stacks/, functions/, local/, bin/): configuration, names, keys, layout and payloads.
export * from './config';
export * from './environment';
export * from './errors';
export * from './events';
export * from './index-keys';
export * from './layout';
export * from './limits';
export * from './payloads';
