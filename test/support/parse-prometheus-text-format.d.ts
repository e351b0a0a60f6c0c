/** Types for parse-prometheus-text-format 1.1.1 (the package ships none). */
declare module "parse-prometheus-text-format" {
  export interface PrometheusSample {
    value?: string;
    labels?: Record<string, string>;
    /** Histograms: le → cumulative count (the parser keeps only label-less histograms whole). */
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface PrometheusFamily {
    name: string;
    help: string;
    /** "COUNTER", "GAUGE", "HISTOGRAM", "SUMMARY" or "UNTYPED". */
    type: string;
    metrics: PrometheusSample[];
  }
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
