/** What the CRD generator needs to know about one Weir kind besides its schemas. */
import type { z } from 'zod';
import type { CelRule } from './cel.ts';

/** API group of every Weir kind. */
export const GROUP = 'weir.dev';
/** The served and stored version. */
export const VERSION = 'v1alpha1';
/** apiVersion of every Weir object. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A column `kubectl get` prints. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  /** 0 shows in the default view, 1 only with `-o wide`. */
  priority?: number;
}

/** One kind of the Weir API. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  /** What metadata.name must satisfy beyond Kubernetes' own rules, because other names derive from it. */
  nameRule: { maxLength: number; rule: CelRule };
  printerColumns: PrinterColumn[];
}
