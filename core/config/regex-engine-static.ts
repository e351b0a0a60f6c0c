/**
 * The RE2 engine loaded with this module: for callers of the synchronous loadBootstrap
 * (the library entry, core/index.ts), which cannot wait for it (regex-engine.ts).
 */
import * as re2js from "re2js";
import { setRegexEngine } from "./regex-engine.ts";

setRegexEngine(re2js);
