/**
 * The body formats of PostgreSQL frontend/backend protocol 3.0 messages, and their
 * validation as Envoy's postgres_proxy does it (contrib/postgres_proxy/filters/network/
 * source/postgres_message.{h,cc}): a message whose body does not match its type's format
 * exactly (every field inside the length, nothing left over) throws the decoder out of
 * sync. https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** One field of a message body. */
export type Field =
  | "int8"
  | "int16"
  | "int32"
  /** NUL-terminated string. */
  | "string"
  /** The rest of the message. */
  | "byteN"
  /** Int32 length (-1: NULL) then that many bytes. */
  | "varByteN"
  /** Int16 count then that many of the item. */
  | { array: Field }
  /** Items until the end of the message. */
  | { repeated: Field }
  /** [code byte, item] pairs until a zero byte (ErrorResponse's fields). */
  | { zeroTerminated: Field }
  /** Fields in order (one entry of a RowDescription). */
  | { sequence: readonly Field[] };

export type BodyFormat = readonly Field[];

/**
 * Whether `body` is exactly one `format`. The body is the whole message after its
 * length field, so a field running past it, or bytes left over, both fail (Envoy's
 * MessageImpl::validate).
 */
export function validateBody(format: BodyFormat, body: Uint8Array): boolean {
  const end = validateFields(format, body, 0);
  return end === body.byteLength;
}

/** The offset after `fields` read from `at`, or -1 when they do not fit. */
function validateFields(fields: readonly Field[], body: Uint8Array, at: number): number {
  for (const field of fields) {
    at = validateField(field, body, at);
    if (at < 0) return -1;
  }
  return at;
}

function validateField(field: Field, body: Uint8Array, at: number): number {
  const left = body.byteLength - at;
  switch (field) {
    case "int8":
      return left >= 1 ? at + 1 : -1;
    case "int16":
      return left >= 2 ? at + 2 : -1;
    case "int32":
      return left >= 4 ? at + 4 : -1;
    case "string": {
      const zero = body.indexOf(0, at);
      return zero < 0 ? -1 : zero + 1;
    }
    case "byteN":
      return body.byteLength;
    case "varByteN": {
      if (left < 4) return -1;
      const length = readInt32(body, at);
      // Envoy: a length past the message's end fails; -1 (NULL) and 0 carry no bytes.
      if (length < 1) return at + 4;
      return length <= left - 4 ? at + 4 + length : -1;
    }
  }
  if ("array" in field) {
    if (left < 2) return -1;
    const count = (body[at]! << 8) | body[at + 1]!;
    at += 2;
    for (let i = 0; i < count && at >= 0; i++) at = validateField(field.array, body, at);
    return at;
  }
  if ("repeated" in field) {
    while (at >= 0 && at < body.byteLength) at = validateField(field.repeated, body, at);
    return at;
  }
  if ("zeroTerminated" in field) {
    while (at >= 0 && at < body.byteLength) {
      if (body[at] === 0) return at + 1;
      at = validateField(field.zeroTerminated, body, at + 1);
    }
    // Envoy: the message ended before the terminating zero.
    return -1;
  }
  return validateFields(field.sequence, body, at);
}

/** A big-endian signed 32-bit integer. */
export function readInt32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

/** A big-endian unsigned 32-bit integer. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return readInt32(bytes, at) >>> 0;
}
