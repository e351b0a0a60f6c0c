/**
 * %ENVIRONMENT(NAME)% and %ENVIRONMENT(NAME):Z% (Envoy's EnvironmentFormatter,
 * source/common/formatter/stream_info_formatter.cc): the value of the environment variable
 * NAME, read once when the format is parsed — at most Z bytes — or "-" when it is unset.
 * That "-" is a string value, not an unset one: Envoy sets it as the formatter's value, so
 * omit_empty_values keeps it and typed JSON prints "-", not null.
 *
 * A value fixed at parse time is a literal: the config check writes it into the format
 * string in the command's place (its "%" doubled), so every use of a format — access logs,
 * header values, local reply bodies, a tunnel's hostname — holds it without reading the
 * environment again when its format is compiled (the check reads it through the port:
 * data-source-files.ts; a config reading it is not kept by the checked-config cache).
 */
import { formatEnvironmentVariable } from "../config/data-source-files.ts";
import { FormatError } from "./format-error.ts";

const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/y;

/** True when the format names %ENVIRONMENT…%: most do not, and are returned as they are. */
const mayName = (format: string) => format.includes("%ENVIRONMENT");

/**
 * `format` (a byte string) with each %ENVIRONMENT(NAME):Z% replaced by its value as literal
 * text. Everything else is left for parseFormat, which reports a malformed "%" itself.
 * Throws FormatError for an ENVIRONMENT without a name, or where no environment is read.
 */
export function resolveEnvironmentCommands(format: string): string {
  if (!mayName(format)) return format;
  let out = "";
  let pos = 0;
  while (pos < format.length) {
    const percent = format.indexOf("%", pos);
    if (percent < 0) break;
    out += format.slice(pos, percent);
    if (format[percent + 1] === "%") {
      out += "%%";
      pos = percent + 2;
      continue;
    }
    COMMAND.lastIndex = percent;
    const match = COMMAND.exec(format);
    if (match === null) {
      // Not a command: parseFormat reports it.
      out += "%";
      pos = percent + 1;
      continue;
    }
    out += match[1] === "ENVIRONMENT" ? environmentValue(match[0], match[2], match[3], percent).replace(/%/g, "%%") : match[0];
    pos = percent + match[0].length;
  }
  return out + format.slice(pos);
}

function environmentValue(text: string, name: string | undefined, length: string | undefined, pos: number): string {
  // Envoy's CommandSyntaxChecker: PARAMS_REQUIRED | LENGTH_ALLOWED.
  if (name === undefined || name === "") throw new FormatError(`ENVIRONMENT requires parameters, e.g. %ENVIRONMENT(NAME)% (in ${text} at position ${pos})`);
  const read = formatEnvironmentVariable(name);
  if ("error" in read) throw new FormatError(`${read.error} (in ${text})`);
  // SubstitutionFormatUtils::truncate: the first Z bytes.
  if (read.value === undefined) return "-";
  return length === undefined ? read.value : read.value.slice(0, Number(length));
}
