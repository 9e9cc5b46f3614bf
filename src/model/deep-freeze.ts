/**
 * Object.freeze, applied to every nested object and array of plain data
 * (objects whose prototype adds no enumerable properties, and arrays).
 * Pure. A DesiredState has some 20,000 objects (a large config), frozen on
 * every reload: the walk reads properties in place (for...in, indexes)
 * rather than listing each object's keys, and calls itself only for the
 * objects among them.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) freezeChild(value[i]);
  } else {
    for (const key in value) freezeChild(value[key]);
  }
  return Object.freeze(value);
}

function freezeChild(child: unknown): void {
  if (child !== null && typeof child === 'object' && !Object.isFrozen(child)) deepFreeze(child);
}
