/*
 * One admin endpoint and what it is asked and answers (Envoy's `Server::Admin::HandlerCb`
 * in envoy/server/admin.h): the admin's own handlers and the trace handlers are these.
 */

/** An admin answer: Envoy's handlers produce a code, a content type and a body. */
export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface AdminRequest {
  method: string;
  path: string;
  /** Query parameters, percent-decoded; a key given twice keeps its first value (Envoy's). */
  query: Map<string, string>;
  /** A form-encoded body's parameters (content-type application/x-www-form-urlencoded), decoded as the query's. */
  form?: Map<string, string>;
  /** An application/json body, where the admin keeps one (Admin.jsonBodyLimit). */
  json?: string;
}

export interface AdminHandler {
  readonly prefix: string;
  readonly help: string;
  /** Changes server state: POST only. */
  readonly mutates: boolean;
  readonly params?: readonly (readonly [string, string])[];
  run(request: AdminRequest): AdminResponse;
}
