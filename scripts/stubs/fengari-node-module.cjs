// A Node module fengari requires only in the Lua libraries polyvoy does not open (scripts/fengari-stubs.mjs).
module.exports = {};
