// fengari's luaconf asks os.platform() for Windows' path separators; its paths are never used (scripts/fengari-stubs.mjs).
module.exports = { platform: () => "linux" };
