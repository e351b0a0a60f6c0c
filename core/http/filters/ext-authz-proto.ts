/**
 * The messages of envoy.service.auth.v3.Authorization/Check, in protobuf's wire format
 * (core/util/protobuf-wire.ts), with the fields polyvoy sends and reads. Field numbers are
 * those of envoy/service/auth/v3/external_auth.proto and attribute_context.proto,
 * envoy/config/core/v3/address.proto and base.proto, google/rpc/status.proto,
 * google/protobuf/timestamp.proto and envoy/type/v3/http_status.proto.
 */
import { decodeStruct, encodeStruct } from "../../util/protobuf-struct.ts";
import type { SocketAddress } from "../../port.ts";
import { latin1Decode } from "../../util/latin1.ts";
import { ProtoReader, ProtoWriter, WireType } from "../../util/protobuf-wire.ts";

/** AttributeContext.Peer's fields that polyvoy knows. */
export interface CheckPeer {
  address: SocketAddress | undefined;
  /** Source only: x-envoy-downstream-service-cluster. */
  service: string;
  /** The TLS certificate's first URI SAN, else first DNS SAN, else subject; "" without TLS. */
  principal: string;
  /** Source only, with include_peer_certificate: the peer's URL-encoded PEM certificate. */
  certificate: string;
}

/** AttributeContext.HttpRequest. Strings are header text (Latin-1, one char a byte): their bytes go on the wire as they are. */
export interface CheckHttpRequest {
  id: string;
  method: string;
  /** Each name once, repeated values joined with ",", pseudo-headers included (Envoy's header map iteration). */
  headers: readonly (readonly [string, string])[];
  path: string;
  host: string;
  scheme: string;
  size: number;
  protocol: string;
  body: Uint8Array | undefined;
  /** pack_as_bytes: the body goes in raw_body (bytes) rather than body (string). */
  packAsBytes: boolean;
}

export interface CheckRequestAttributes {
  source: CheckPeer;
  destination: CheckPeer;
  /** Wall-clock ms of the request's start (AttributeContext.Request.time). */
  timeMs: number;
  http: CheckHttpRequest;
  contextExtensions: Readonly<Record<string, string>>;
  /** metadata_context_namespaces: AttributeContext.metadata_context (Metadata { map<string, Struct> filter_metadata = 1; }), by namespace. */
  metadataContext?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;
  /** With include_tls_session: AttributeContext.TLSSession { string sni = 1; }, sent even when empty. */
  tlsSession?: { sni: string } | undefined;
}

/** HeaderValueOption.HeaderAppendAction, and the deprecated `append` BoolValue's two meanings. */
export const HeaderAppendAction = {
  AppendIfExistsOrAdd: 0,
  AddIfAbsent: 1,
  OverwriteIfExistsOrAdd: 2,
  OverwriteIfExists: 3,
} as const;

export interface HeaderMutation {
  name: string;
  value: string;
  action: number;
  /** Set by the deprecated `append: true`: an existing header gets the value joined with "," (Envoy's appendCopy). */
  appendJoined: boolean;
}

/** A CheckResponse sorted as Envoy's GrpcClientImpl::onSuccess reads it. */
export type CheckResponse =
  | {
      ok: true;
      headers: HeaderMutation[];
      headersToRemove: string[];
      responseHeadersToAdd: HeaderMutation[];
      queryParametersToSet: [string, string][];
      queryParametersToRemove: string[];
      dynamicMetadata: Record<string, unknown> | undefined;
    }
  | { ok: false; status: number; headers: HeaderMutation[]; body: string; dynamicMetadata: Record<string, unknown> | undefined };

export const CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check";

/** Text whose chars are bytes, as bytes. */
function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function writePeer(peer: CheckPeer, writer: ProtoWriter): void {
  const address = peer.address;
  // Address.socket_address: SocketAddress { protocol = 1 (TCP = 0), address = 2, port_value = 3 }; Address.pipe = 2: Pipe { path = 1 }.
  if (address?.family === "unix") writer.message(1, (a) => a.message(2, (p) => p.string(1, address.address)));
  else if (address !== undefined) writer.message(1, (a) => a.message(1, (s) => s.string(2, address.address).uint(3, address.port)));
  writer.string(2, peer.service);
  writer.string(4, peer.principal);
  writer.string(5, peer.certificate);
}

/** CheckRequest { AttributeContext attributes = 1; } */
export function encodeCheckRequest(attributes: CheckRequestAttributes): Uint8Array {
  return new ProtoWriter()
    .message(1, (context) => {
      context.message(1, (peer) => writePeer(attributes.source, peer));
      context.message(2, (peer) => writePeer(attributes.destination, peer));
      // AttributeContext.Request { Timestamp time = 1; HttpRequest http = 2; }
      context.message(4, (request) => {
        const seconds = Math.floor(attributes.timeMs / 1000);
        request.message(1, (time) => time.int64(1, seconds).uint(2, Math.round((attributes.timeMs - seconds * 1000) * 1e6)));
        request.message(2, (http) => {
          const h = attributes.http;
          http.bytesField(1, bytesOf(h.id)).bytesField(2, bytesOf(h.method));
          for (const [name, value] of h.headers) http.message(3, (entry) => entry.bytesField(1, bytesOf(name)).bytesField(2, bytesOf(value)));
          http.bytesField(4, bytesOf(h.path)).bytesField(5, bytesOf(h.host)).bytesField(6, bytesOf(h.scheme));
          http.int64(9, h.size).string(10, h.protocol);
          if (h.body !== undefined) http.bytesField(h.packAsBytes ? 12 : 11, h.body);
        });
      });
      for (const [key, value] of Object.entries(attributes.contextExtensions)) context.mapEntry(10, key, value);
      const metadata = attributes.metadataContext;
      // Envoy sets metadata_context always; an empty message is what an unset one reads as.
      if (metadata !== undefined) {
        context.message(11, (m) => {
          for (const [namespace, fields] of Object.entries(metadata)) m.message(1, (entry) => entry.explicitString(1, namespace).message(2, (struct) => encodeStruct(struct, fields)));
        });
      }
      const tls = attributes.tlsSession;
      if (tls !== undefined) context.message(12, (session) => session.string(1, tls.sni));
    })
    .finish();
}

/** Reads a message's fields with `visit`, skipping those it does not take (returns false for). */
function readMessage(bytes: Uint8Array, visit: (reader: ProtoReader) => boolean): void {
  const reader = new ProtoReader(bytes);
  while (reader.next()) if (!visit(reader)) reader.skip();
}

function text(reader: ProtoReader): string {
  const bytes = reader.lengthDelimited();
  return latin1Decode(bytes, 0, bytes.byteLength);
}

/** HeaderValueOption { HeaderValue header = 1 { key = 1; value = 2; raw_value = 3 }; BoolValue append = 2; HeaderAppendAction append_action = 3; } */
function readHeaderValueOption(bytes: Uint8Array): HeaderMutation {
  const mutation: HeaderMutation = { name: "", value: "", action: HeaderAppendAction.AppendIfExistsOrAdd, appendJoined: false };
  let append: boolean | undefined;
  readMessage(bytes, (r) => {
    if (r.field === 1 && r.wire === WireType.Len) {
      readMessage(r.lengthDelimited(), (h) => {
        if (h.field === 1 && h.wire === WireType.Len) mutation.name = text(h).toLowerCase();
        else if ((h.field === 2 || h.field === 3) && h.wire === WireType.Len) mutation.value = text(h);
        else return false;
        return true;
      });
    } else if (r.field === 2 && r.wire === WireType.Len) {
      // google.protobuf.BoolValue { bool value = 1; }
      append = false;
      readMessage(r.lengthDelimited(), (b) => (b.field === 1 && b.wire === WireType.Varint ? ((append = b.bool()), true) : false));
    } else if (r.field === 3 && r.wire === WireType.Varint) {
      mutation.action = r.int32();
    } else {
      return false;
    }
    return true;
  });
  // Envoy's getAppendAction: the deprecated field wins when present; an unknown action overwrites.
  if (append !== undefined) {
    mutation.action = append ? HeaderAppendAction.AppendIfExistsOrAdd : HeaderAppendAction.OverwriteIfExistsOrAdd;
    mutation.appendJoined = append;
  } else if (mutation.action < 0 || mutation.action > 3) {
    mutation.action = HeaderAppendAction.OverwriteIfExistsOrAdd;
  }
  return mutation;
}

/**
 * CheckResponse { google.rpc.Status status = 1 { int32 code = 1; }; DeniedHttpResponse denied_response = 2;
 * OkHttpResponse ok_response = 3; google.protobuf.Struct dynamic_metadata = 4; }. Throws ProtoDecodeError on bytes that are no message.
 */
export function decodeCheckResponse(bytes: Uint8Array): CheckResponse {
  let code = 0;
  let denied: Uint8Array | undefined;
  let ok: Uint8Array | undefined;
  let dynamicMetadata: Record<string, unknown> | undefined;
  readMessage(bytes, (r) => {
    if (r.wire !== WireType.Len) return false;
    if (r.field === 1) readMessage(r.lengthDelimited(), (s) => (s.field === 1 && s.wire === WireType.Varint ? ((code = s.int32()), true) : false));
    else if (r.field === 2) denied = r.lengthDelimited();
    else if (r.field === 3) ok = r.lengthDelimited();
    // google.protobuf.Struct dynamic_metadata = 4
    else if (r.field === 4) dynamicMetadata = decodeStruct(r.lengthDelimited());
    else return false;
    return true;
  });
  if (code === 0) {
    const result: CheckResponse = { ok: true, headers: [], headersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [], dynamicMetadata };
    // OkHttpResponse { headers = 2; dynamic_metadata = 3 (deprecated); headers_to_remove = 5;
    // response_headers_to_add = 6; QueryParameter query_parameters_to_set = 7 { key = 1; value = 2; };
    // query_parameters_to_remove = 8; }
    if (ok !== undefined) {
      readMessage(ok, (r) => {
        if (r.wire !== WireType.Len) return false;
        if (r.field === 2) result.headers.push(readHeaderValueOption(r.lengthDelimited()));
        // Envoy's GrpcClientImpl reads the deprecated one only without the CheckResponse's.
        else if (r.field === 3) {
          const deprecated = decodeStruct(r.lengthDelimited());
          if (dynamicMetadata === undefined) result.dynamicMetadata = deprecated;
        } else if (r.field === 5) result.headersToRemove.push(text(r).toLowerCase());
        else if (r.field === 6) result.responseHeadersToAdd.push(readHeaderValueOption(r.lengthDelimited()));
        else if (r.field === 7) {
          let key = "";
          let value = "";
          readMessage(r.lengthDelimited(), (q) => {
            if (q.wire !== WireType.Len) return false;
            if (q.field === 1) key = text(q);
            else if (q.field === 2) value = text(q);
            else return false;
            return true;
          });
          result.queryParametersToSet.push([key, value]);
        } else if (r.field === 8) result.queryParametersToRemove.push(text(r));
        else return false;
        return true;
      });
    }
    return result;
  }
  // Denied: 403 unless the DeniedHttpResponse { HttpStatus status = 1 { code = 1 }; headers = 2; body = 3; } says otherwise.
  const result: CheckResponse = { ok: false, status: 403, headers: [], body: "", dynamicMetadata };
  if (denied !== undefined) {
    readMessage(denied, (r) => {
      if (r.field === 1 && r.wire === WireType.Len) {
        readMessage(r.lengthDelimited(), (s) => {
          if (s.field !== 1 || s.wire !== WireType.Varint) return false;
          const status = s.int32();
          if (status > 0) result.status = status;
          return true;
        });
      } else if (r.field === 2 && r.wire === WireType.Len) {
        result.headers.push(readHeaderValueOption(r.lengthDelimited()));
      } else if (r.field === 3 && r.wire === WireType.Len) {
        result.body = text(r);
      } else {
        return false;
      }
      return true;
    });
  }
  return result;
}
