import type { PortError, Runtime, TlsCertificate } from "../port.ts";
import { latin1Encode } from "../util/latin1.ts";
import type { GenericSecretConfig, SecretConfig, TlsCertificateConfig, TlsDataSourceConfig, ValidationContextConfig } from "../config/bootstrap.ts";

/** A secret with its files read (what a TLS context is built from), and the file it came from ("<inline>" when none). */
export type ResolvedSecret =
  | { readonly kind: "tlsCertificate"; readonly certificate: TlsCertificate; readonly path: string }
  | { readonly kind: "validationContext"; readonly validation: ResolvedValidationContext; readonly path: string }
  | { readonly kind: "genericSecret"; readonly secret: Uint8Array; readonly path: string };

export async function readSecret(runtime: Runtime, secret: SecretConfig): Promise<ResolvedSecret> {
  if ("tlsCertificate" in secret) {
    const c = secret.tlsCertificate;
    return { kind: "tlsCertificate", certificate: await readCertificate(runtime, c), path: pathOf(c.certificateChain) };
  }
  if ("genericSecret" in secret) {
    const source = secret.genericSecret.secret;
    return { kind: "genericSecret", secret: await readBytes(runtime, source, "generic_secret.secret"), path: pathOf(source) };
  }
  const v = secret.validationContext;
  return { kind: "validationContext", validation: await readValidationContext(runtime, v), path: pathOf(v.trustedCa) };
}

/** Envoy's /certs path: the file name, or "<inline>". */
export function pathOf(source: TlsDataSourceConfig | undefined): string {
  return source && "filename" in source ? source.filename : "<inline>";
}

/** A validation context with its trusted CA read (PEM text). */
export interface ResolvedValidationContext {
  readonly config: ValidationContextConfig;
  readonly trustedCa?: string;
  /** The CRLs (PEM text). */
  readonly crl?: string;
}

/** A certificate's data sources read through the port. */
export async function readCertificate(runtime: Runtime, c: TlsCertificateConfig): Promise<TlsCertificate> {
  const certificateChain = await readData(runtime, c.certificateChain, "certificate_chain");
  const privateKey = await readData(runtime, c.privateKey, "private_key");
  const password = c.password ? await readData(runtime, c.password, "password") : undefined;
  const ocspStaple = c.ocspStaple ? await readBytes(runtime, c.ocspStaple, "ocsp_staple") : undefined;
  return { certificateChain, privateKey, ...(password !== undefined ? { password } : {}), ...(ocspStaple ? { ocspStaple } : {}) };
}

export async function readValidationContext(runtime: Runtime, config: ValidationContextConfig): Promise<ResolvedValidationContext> {
  if (!config.trustedCa) return { config };
  const trustedCa = await readData(runtime, config.trustedCa, "validation_context.trusted_ca");
  if (!config.crl) return { config, trustedCa };
  return { config, trustedCa, crl: await readData(runtime, config.crl, "validation_context.crl") };
}

/** The files a certificate or validation context reads (what an SDS secret's rotation watches). */
export function filesOf(config: TlsCertificateConfig | ValidationContextConfig | GenericSecretConfig): string[] {
  const sources = "certificateChain" in config ? [config.certificateChain, config.privateKey, config.password, config.ocspStaple] : "secret" in config ? [config.secret] : [config.trustedCa, config.crl];
  return sources.flatMap((source) => (source && "filename" in source ? [source.filename] : []));
}

/** A data source's bytes: a file read as binary (through the port's readFileBytes), inline data as given. */
export async function readBytes(runtime: Runtime, source: TlsDataSourceConfig, field: string): Promise<Uint8Array> {
  if ("inline" in source) return latin1Encode(source.inline);
  if (!runtime.readFileBytes) throw new Error(`${field}: ${runtime.name} cannot read binary files`);
  try {
    return await runtime.readFileBytes(source.filename);
  } catch (err) {
    const error = err as Partial<PortError>;
    throw new Error(`${field}: cannot read ${source.filename}: ${error.code ?? ""} ${error.message ?? String(err)}`.replace(/\s+/g, " ").trim());
  }
}

export async function readData(runtime: Runtime, source: TlsDataSourceConfig, field: string): Promise<string> {
  if ("inline" in source) return source.inline;
  try {
    return await runtime.readTextFile(source.filename);
  } catch (err) {
    const error = err as Partial<PortError>;
    throw new Error(`${field}: cannot read ${source.filename}: ${error.code ?? ""} ${error.message ?? String(err)}`.replace(/\s+/g, " ").trim());
  }
}
