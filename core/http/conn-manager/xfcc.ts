import type { RequestHeaders } from "../message.ts";
import type { TlsSession } from "../../port.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import { urlEncodePem } from "../../tls/url-encoded-pem.ts";

/**
 * x-forwarded-client-cert, as Envoy's ConnectionManagerUtility::mutateXfccRequestHeader
 * (source/common/http/conn_manager_utility.cc) sets it from forward_client_cert_details:
 * ALWAYS_FORWARD_ONLY keeps the client's header; SANITIZE (the default), or a connection
 * without a client certificate, removes it; FORWARD_ONLY keeps it; APPEND_FORWARD
 * appends this hop's element after ","; SANITIZE_SET replaces the header with it. The
 * element is `By=<our first URI SAN>;Hash=<peer SHA-256>` and then, per
 * set_current_client_cert_details, `Subject="…"`, `Cert="<url-encoded PEM>"`,
 * `Chain="…"`, `URI=<first URI SAN>` and one `DNS=` per DNS SAN, joined by ";".
 */
export function mutateXfccRequestHeader(headers: RequestHeaders, tls: TlsSession | undefined, config: HttpConnectionManagerConfig): void {
  const mode = config.forwardClientCert;
  if (mode === "ALWAYS_FORWARD_ONLY") return;
  const peer = tls?.peerCertificate;
  if (mode === undefined || !peer) {
    headers.remove("x-forwarded-client-cert");
    return;
  }
  if (mode === "FORWARD_ONLY") return;
  const details: string[] = [];
  const by = tls!.localUriSan;
  if (by) details.push(`By=${by}`);
  if (peer.sha256) details.push(`Hash=${peer.sha256}`);
  for (const detail of config.clientCertDetails ?? []) {
    switch (detail) {
      case "Cert":
        if (peer.pem) details.push(`Cert="${urlEncodePem(peer.pem)}"`);
        break;
      case "Chain":
        if (peer.chainPem) details.push(`Chain="${urlEncodePem(peer.chainPem)}"`);
        break;
      case "Subject":
        // The key is there even when the subject is empty.
        details.push(`Subject="${peer.subject}"`);
        break;
      case "URI":
        // Likewise for URI.
        details.push(`URI=${peer.subjectAltNames.find((san) => san.type === "URI")?.value ?? ""}`);
        break;
      case "DNS":
        for (const san of peer.subjectAltNames) if (san.type === "DNS") details.push(`DNS=${san.value}`);
        break;
    }
  }
  const element = details.join(";");
  const existing = mode === "APPEND_FORWARD" ? headers.getJoined("x-forwarded-client-cert") : undefined;
  headers.set("x-forwarded-client-cert", existing ? `${existing},${element}` : element);
}
