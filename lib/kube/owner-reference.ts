/** Owner references, which make the garbage collector delete children with their owner. */
import type { KubernetesObject } from '@kubernetes/client-node';

/** A reference that makes `owner` the controller of a child. */
export interface ControllerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

/** An owner reference that makes `owner` the controller of a child, for garbage collection. */
export function controllerReference(owner: KubernetesObject): ControllerReference {
  if (!owner.apiVersion || !owner.kind || !owner.metadata?.name || !owner.metadata.uid)
    throw new Error('an owner needs apiVersion, kind, name and uid');
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
