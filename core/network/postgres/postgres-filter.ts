/**
 * Envoy's postgres_proxy network filter (contrib/postgres_proxy/filters/network/source/
 * postgres_filter.cc): it decodes the PostgreSQL protocol both ways (postgres-decoder.ts)
 * for stats and, with enable_sql_parsing, sets the connection's dynamic metadata
 * `envoy.filters.network.postgres_proxy` → { "<table>[.<db>]": [operations] } from each
 * Query and Parse message. The bytes pass on unchanged to the next filter (tcp_proxy).
 */
import type { PostgresProxyConfig } from "../../config/bootstrap.ts";
import type { Connection } from "../connection.ts";
import { FilterStatus, type ReadFilter } from "../filter.ts";
import type { ReadBuffer } from "../read-buffer.ts";
import { ErrorType, NoticeType, PostgresDecoder, type PostgresDecoderCallbacks, StatementType } from "./postgres-decoder.ts";
import type { PostgresProxyStats } from "./postgres-proxy-stats.ts";
import { sqlMetadata } from "../sql/sql-metadata.ts";

/** The dynamic metadata namespace (Envoy's NetworkFilterNames::get().PostgresProxy). */
export const POSTGRES_PROXY_METADATA_NAMESPACE = "envoy.filters.network.postgres_proxy";

export class PostgresFilter implements ReadFilter, PostgresDecoderCallbacks {
  private readonly decoder = new PostgresDecoder(this);

  constructor(
    private readonly config: PostgresProxyConfig,
    private readonly stats: PostgresProxyStats,
    private readonly connection: Connection,
  ) {
    // Envoy adds it as a read and write filter: the server's messages are decoded as they are written to the client.
    connection.addWriteFilter((data) => {
      if (!this.decoder.ignoring) this.decoder.onData(data, false);
      return true;
    });
  }

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, _endStream: boolean): FilterStatus {
    // All the buffer holds is new: the filter after this one (tcp_proxy) drains every read.
    // Envoy's filter decodes its `data` the same way.
    if (this.decoder.ignoring) return FilterStatus.Continue;
    for (let i = 0; i < buffer.chunkCount; i++) this.decoder.onData(buffer.chunkAt(i), true);
    return FilterStatus.Continue;
  }

  incMessagesFrontend(): void {
    this.stats.messages.inc();
    this.stats.messages_frontend.inc();
  }

  incMessagesBackend(): void {
    this.stats.messages.inc();
    this.stats.messages_backend.inc();
  }

  incMessagesUnknown(): void {
    this.stats.messages.inc();
    this.stats.messages_unknown.inc();
  }

  incSessionsEncrypted(): void {
    this.stats.sessions.inc();
    this.stats.sessions_encrypted.inc();
  }

  incSessionsUnencrypted(): void {
    this.stats.sessions.inc();
    this.stats.sessions_unencrypted.inc();
  }

  incStatements(type: StatementType): void {
    this.stats.statements.inc();
    switch (type) {
      case StatementType.Insert:
        return this.stats.statements_insert.inc();
      case StatementType.Delete:
        return this.stats.statements_delete.inc();
      case StatementType.Select:
        return this.stats.statements_select.inc();
      case StatementType.Update:
        return this.stats.statements_update.inc();
      case StatementType.Other:
        return this.stats.statements_other.inc();
    }
  }

  incTransactions(): void {
    this.stats.transactions.inc();
  }

  incTransactionsCommit(): void {
    this.stats.transactions_commit.inc();
  }

  incTransactionsRollback(): void {
    this.stats.transactions_rollback.inc();
  }

  incErrors(type: ErrorType): void {
    this.stats.errors.inc();
    switch (type) {
      case ErrorType.Error:
        return this.stats.errors_error.inc();
      case ErrorType.Fatal:
        return this.stats.errors_fatal.inc();
      case ErrorType.Panic:
        return this.stats.errors_panic.inc();
      case ErrorType.Unknown:
        return this.stats.errors_unknown.inc();
    }
  }

  incNotices(type: NoticeType): void {
    this.stats.notices.inc();
    switch (type) {
      case NoticeType.Warning:
        return this.stats.notices_warning.inc();
      case NoticeType.Notice:
        return this.stats.notices_notice.inc();
      case NoticeType.Debug:
        return this.stats.notices_debug.inc();
      case NoticeType.Info:
        return this.stats.notices_info.inc();
      case NoticeType.Log:
        return this.stats.notices_log.inc();
      case NoticeType.Unknown:
        return this.stats.notices_unknown.inc();
    }
  }

  processQuery(sql: string, attributes: ReadonlyMap<string, string>): void {
    if (!this.config.enableSqlParsing) return;
    const metadata = sqlMetadata(sql, attributes.get("database"));
    if (metadata === undefined) {
      this.stats.statements_parse_error.inc();
      return;
    }
    this.stats.statements_parsed.inc();
    this.connection.setDynamicMetadata(POSTGRES_PROXY_METADATA_NAMESPACE, metadata);
  }

  onSSLRequest(): boolean {
    // terminate_ssl is refused at config time (no starttls transport socket): the request passes to the server.
    return true;
  }
}
