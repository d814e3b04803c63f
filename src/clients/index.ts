// Client profiles: which xDS implementation and version each proxy is, what it understands, and
// the proxy group that serves it. A leaf module: it imports nothing from the rest of Switchyard.
export * from './table.js';
export * from './profile.js';
export * from './groups.js';
