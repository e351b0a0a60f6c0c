/**
 * The MySQL client/server protocol decoder of Envoy's mysql_proxy
 * (contrib/mysql_proxy/filters/network/source/mysql_decoder_impl.cc and mysql_codec_*.cc).
 * Every packet is a 4-byte header — payload length (3 bytes, little-endian) and sequence
 * id — then the payload. One session state machine follows both directions: the server
 * greeting, the client's login (or SSL request, after which the rest is TLS and nothing
 * more is read), the server's OK / ERR / auth switch / more-data, then commands (COM_QUERY's
 * SQL is reported) and their responses. It only watches: the bytes pass on unchanged.
 *
 * Sequence ids as Envoy's MySQLSession: one expected id for both directions, reset to 0 at
 * login OK and at each new command; a packet with another id is out of sync — counted
 * (protocol_errors) and skipped whole — except a client's seq 0 after a response, which
 * starts the next command.
 *
 * Differs from Envoy where Envoy loses data: a header split across reads is kept until
 * whole (Envoy throws, counts decoder_errors and stops decoding the session), and a packet
 * over MAX_BUFFERED_PACKET is not held: it moves the state machine as its first byte says
 * and is skipped unread (a COM_QUERY that long counts queries_parse_error).
 */
import { utf8Decode } from "../../util/utf8.ts";
import { PendingBytes } from "../pending-bytes.ts";

/** What the decoder reports (Envoy's DecoderCallbacks). */
export interface MySQLDecoderCallbacks {
  onProtocolError(): void;
  onServerGreeting(): void;
  onClientLogin(sslRequest: boolean): void;
  /** The server's first answer to the login (`code`: OK, ERR, AUTH_SWITCH or MORE). */
  onClientLoginResponse(code: number): void;
  /** The server's answers during an auth switch / more-data exchange. */
  onMoreClientLoginResponse(code: number): void;
  /** A COM_QUERY: its SQL, or undefined when it was too long to read. */
  onQuery(sql: string | undefined): void;
}

const enum State {
  Init,
  ChallengeReq,
  ChallengeResp41,
  ChallengeResp320,
  SslPt,
  AuthSwitchResp,
  AuthSwitchMore,
  Resync,
  Req,
  ReqResp,
  Error,
  NotHandled,
}

export const MYSQL_RESP_OK = 0x00;
export const MYSQL_RESP_MORE = 0x01;
export const MYSQL_RESP_AUTH_SWITCH = 0xfe;
export const MYSQL_RESP_ERR = 0xff;
export const COM_QUERY = 0x03;
export const CLIENT_PROTOCOL_41 = 0x0200;
export const CLIENT_SSL = 0x0800;
/** The SSL request's payload length (Envoy's SSL_CONNECTION_REQUEST_PACKET_SIZE). */
export const SSL_CONNECTION_REQUEST_PACKET_SIZE = 32;
/** Envoy's MYSQL_REQUEST_PKT_NUM: a command's first packet. */
const MYSQL_REQUEST_PKT_NUM = 0;
/** The largest payload held to be read whole; longer ones are skipped unread (see the file comment). */
export const MAX_BUFFERED_PACKET = 1024 * 1024;
const HEADER = 4;

export class MySQLDecoder {
  private state = State.Init;
  private expectedSeq = 0;
  /** Per direction (0 from the client, 1 from the server). */
  private readonly pending = [new PendingBytes(), new PendingBytes()];
  /** Bytes still to skip of an out-of-sync or over-long packet, per direction. */
  private readonly skip = [0, 0];

  constructor(private readonly callbacks: MySQLDecoderCallbacks) {}

  /** True once nothing more is read (the session went to TLS: Envoy's SslPt drains all). */
  get ignoring(): boolean {
    return this.state === State.SslPt;
  }

  /** Bytes from the client (`fromClient`, Envoy's is_upstream) or from the server. */
  onData(chunk: Uint8Array, fromClient: boolean): void {
    if (this.ignoring) return;
    const dir = fromClient ? 0 : 1;
    const data = this.pending[dir]!.join(chunk);
    let at = 0;
    while (at < data.byteLength && !this.ignoring) {
      if (this.skip[dir]! > 0) {
        const n = Math.min(this.skip[dir]!, data.byteLength - at);
        this.skip[dir]! -= n;
        at += n;
        continue;
      }
      const next = this.decodePacket(data, at, fromClient);
      if (next < 0) break; // needs more bytes
      at = next;
    }
    this.pending[dir]!.keep(this.ignoring ? data.subarray(0, 0) : data.subarray(at));
  }

  /** One packet (Envoy's DecoderImpl::decode). Returns the offset after it, or -1 for more data. */
  private decodePacket(data: Uint8Array, at: number, fromClient: boolean): number {
    const available = data.byteLength - at;
    if (available < HEADER) return -1;
    const len = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const seq = data[at + 3]!;
    const tooLong = len > MAX_BUFFERED_PACKET;
    // An over-long packet is decided on its first byte; any other waits until whole.
    if (available < HEADER + (tooLong ? 1 : len)) return -1;
    if (seq !== this.expectedSeq) {
      if (this.state === State.ReqResp && seq === MYSQL_REQUEST_PKT_NUM) {
        // The server's response is over and the client sends its next command.
        this.expectedSeq = 0;
        this.state = State.Req;
      } else {
        this.callbacks.onProtocolError();
        return this.skipPacket(at, len, fromClient);
      }
    }
    this.expectedSeq = (this.expectedSeq + 1) & 0xff;
    if (tooLong) {
      this.parseMessage(data.subarray(at + HEADER, at + HEADER + 1), len, fromClient, false);
      return this.skipPacket(at, len, fromClient);
    }
    this.parseMessage(data.subarray(at + HEADER, at + HEADER + len), len, fromClient, true);
    return at + HEADER + len;
  }

  /** Skips the packet at `at`: what is here now, and the rest as it comes. */
  private skipPacket(at: number, len: number, fromClient: boolean): number {
    this.skip[fromClient ? 0 : 1] = HEADER + len;
    return at;
  }

  /** Envoy's DecoderImpl::parseMessage. `whole` is false for an over-long packet: only its first byte is here. */
  private parseMessage(payload: Uint8Array, len: number, fromClient: boolean, whole: boolean): void {
    const first = payload.byteLength > 0 ? payload[0] : undefined;
    switch (this.state) {
      case State.Init:
        // The server greeting.
        this.state = State.ChallengeReq;
        this.callbacks.onServerGreeting();
        return;
      case State.ChallengeReq: {
        // The client's handshake response, or its SSL request.
        const caps = whole ? clientCapabilities(payload) : 0;
        const ssl = (caps & CLIENT_SSL) !== 0;
        if (len === SSL_CONNECTION_REQUEST_PACKET_SIZE && ssl) this.state = State.SslPt;
        else if ((caps & CLIENT_PROTOCOL_41) !== 0 || !whole) this.state = State.ChallengeResp41;
        else this.state = State.ChallengeResp320;
        this.callbacks.onClientLogin(ssl);
        return;
      }
      case State.ChallengeResp41:
      case State.ChallengeResp320: {
        switch (first) {
          case MYSQL_RESP_OK:
            this.state = State.Req;
            this.expectedSeq = 0;
            break;
          case MYSQL_RESP_AUTH_SWITCH:
            this.state = State.AuthSwitchResp;
            break;
          case MYSQL_RESP_ERR:
            this.state = State.Error;
            break;
          case MYSQL_RESP_MORE:
            this.state = State.AuthSwitchMore;
            break;
          default:
            this.state = State.NotHandled;
            return;
        }
        this.callbacks.onClientLoginResponse(first!);
        return;
      }
      case State.AuthSwitchResp:
        this.state = State.AuthSwitchMore;
        return;
      case State.AuthSwitchMore: {
        // The client's auth data is consumed; the server's answer moves the state.
        if (fromClient) return;
        switch (first) {
          case MYSQL_RESP_OK:
            this.state = State.Req;
            this.expectedSeq = 0;
            break;
          case MYSQL_RESP_MORE:
            break;
          case MYSQL_RESP_ERR:
            // Envoy stops following the auth exchange and resyncs on the next command.
            this.state = State.Resync;
            this.expectedSeq = 0;
            break;
          case MYSQL_RESP_AUTH_SWITCH:
            // As Envoy's: a second auth switch is not followed.
            this.state = State.NotHandled;
            break;
          default:
            this.state = State.NotHandled;
            return;
        }
        this.callbacks.onMoreClientLoginResponse(first!);
        return;
      }
      case State.Resync:
      case State.Req:
        this.state = State.ReqResp;
        if (first === COM_QUERY) this.callbacks.onQuery(whole ? utf8Decode(payload.subarray(1)) : undefined);
        return;
      case State.ReqResp:
      case State.SslPt:
      case State.Error:
      case State.NotHandled:
        return;
    }
  }
}

/**
 * The client capability flags of a handshake response (Envoy's ClientLogin::parseMessage):
 * 2 bytes, and 2 more with CLIENT_PROTOCOL_41. 0 when the payload is shorter.
 */
function clientCapabilities(payload: Uint8Array): number {
  if (payload.byteLength < 2) return 0;
  const base = payload[0]! | (payload[1]! << 8);
  if ((base & CLIENT_PROTOCOL_41) === 0 || payload.byteLength < 4) return base;
  return (base | (payload[2]! << 16) | (payload[3]! << 24)) >>> 0;
}
