import { describe, expect, test } from "vitest";
import { imfFixdate, isoTimestamp, utcEpochMs, utcParts } from "../../../core/util/civil-time.ts";

describe("civil time (UTC fields without the host's Date)", () => {
  test("agrees with Date on ISO strings, IMF-fixdate and fields across four centuries, leap days and negative times", () => {
    const samples = [0, -1, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 1_733_260_000_123, -2_208_988_800_000, 253_402_300_799_999];
    for (let t = -5e12; t < 2.5e14; t += 7_777_777_777_777 / 113) samples.push(Math.floor(t));
    for (const ms of samples) {
      const date = new Date(ms);
      expect(isoTimestamp(ms), String(ms)).toBe(date.toISOString());
      expect(imfFixdate(ms), String(ms)).toBe(date.toUTCString());
      const p = utcParts(ms);
      expect([p.year, p.month, p.day, p.hour, p.minute, p.second, p.millisecond, p.weekday]).toEqual([
        date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds(), date.getUTCDay(),
      ]);
      expect(p.yearDay).toBe((Date.UTC(p.year, p.month - 1, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000 + 1);
      // utcEpochMs is its inverse (to the second).
      expect(utcEpochMs(p.year, p.month, p.day, p.hour, p.minute, p.second) + p.millisecond, String(ms)).toBe(ms);
    }
  });
});
