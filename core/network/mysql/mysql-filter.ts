/**
 * Envoy's mysql_proxy network filter (contrib/mysql_proxy/filters/network/source/
 * mysql_filter.cc): it decodes the MySQL protocol both ways (mysql-decoder.ts) for stats
 * and sets the connection's dynamic metadata `envoy.filters.network.mysql_proxy` →
 * { "<table>": [operations] } from each COM_QUERY. The bytes pass on unchanged to the next
 * filter (tcp_proxy).
 */
import type { Connection } from "../connection.ts";
import { FilterStatus, type ReadFilter } from "../filter.ts";
import type { ReadBuffer } from "../read-buffer.ts";
import { sqlMetadata } from "../sql/sql-metadata.ts";
import { MYSQL_RESP_AUTH_SWITCH, MYSQL_RESP_ERR, MySQLDecoder, type MySQLDecoderCallbacks } from "./mysql-decoder.ts";
import type { MySQLProxyStats } from "./mysql-proxy-stats.ts";

/** The dynamic metadata namespace (Envoy's NetworkFilterNames::get().MySQLProxy). */
export const MYSQL_PROXY_METADATA_NAMESPACE = "envoy.filters.network.mysql_proxy";

export class MySQLFilter implements ReadFilter, MySQLDecoderCallbacks {
  private readonly decoder = new MySQLDecoder(this);

  constructor(
    private readonly stats: MySQLProxyStats,
    private readonly connection: Connection,
  ) {
    // Envoy adds it as a read and write filter: the server's packets are decoded as they are written to the client.
    connection.addWriteFilter((data) => {
      if (!this.decoder.ignoring) this.decoder.onData(data, false);
      return true;
    });
  }

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    this.stats.sessions.inc();
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, _endStream: boolean): FilterStatus {
    // All the buffer holds is new: the filter after this one (tcp_proxy) drains every read.
    if (this.decoder.ignoring) return FilterStatus.Continue;
    for (let i = 0; i < buffer.chunkCount; i++) this.decoder.onData(buffer.chunkAt(i), true);
    return FilterStatus.Continue;
  }

  onProtocolError(): void {
    this.stats.protocol_errors.inc();
  }

  onServerGreeting(): void {
    this.stats.login_attempts.inc();
  }

  onClientLogin(sslRequest: boolean): void {
    // downstream_ssl is refused at config time but for DISABLE: the SSL request passes to the server.
    if (sslRequest) this.stats.upgraded_to_ssl.inc();
  }

  onClientLoginResponse(code: number): void {
    if (code === MYSQL_RESP_AUTH_SWITCH) this.stats.auth_switch_request.inc();
    else if (code === MYSQL_RESP_ERR) this.stats.login_failures.inc();
  }

  onMoreClientLoginResponse(code: number): void {
    if (code === MYSQL_RESP_ERR) this.stats.login_failures.inc();
  }

  onQuery(sql: string | undefined): void {
    // Envoy's decoder has no database attribute for MySQL: keys are the bare table names.
    const metadata = sql === undefined ? undefined : sqlMetadata(sql, undefined);
    if (metadata === undefined) {
      this.stats.queries_parse_error.inc();
      return;
    }
    this.stats.queries_parsed.inc();
    this.connection.setDynamicMetadata(MYSQL_PROXY_METADATA_NAMESPACE, metadata);
  }
}
