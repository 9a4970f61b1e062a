/** RBAC rules as controllers declare what they need, beside the code that needs it (kubebuilder's rbac markers). */

/** One RBAC rule (rbac.authorization.k8s.io/v1 PolicyRule). */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Every (group, resource, name, verb) a set of rules grants, as comparable strings. */
export function grants(rules: readonly PolicyRule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules)
    for (const g of r.apiGroups)
      for (const res of r.resources)
        for (const v of r.verbs)
          for (const name of r.resourceNames?.length ? r.resourceNames : ['*'])
            out.add(`${g || 'core'}/${res}/${name}: ${v}`);
  return out;
}
