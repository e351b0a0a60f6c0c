// fengari's ldblib sets readline-sync's prompt when it loads (for debug.debug(), never opened): scripts/fengari-stubs.mjs.
module.exports = { setDefaultOptions() {}, prompt() { throw new Error("polyvoy: no debug library in the Lua sandbox"); } };
