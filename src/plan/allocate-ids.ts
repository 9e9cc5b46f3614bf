/**
 * Ids for new services and backends: the lowest index not in use, below the
 * map's capacity. Reusing low ids keeps the arrays dense; an id is only
 * reused after the plan that frees it, since live ids are taken up front.
 */

/**
 * A set of ids (map indexes: small non-negative integers), one byte per
 * id. A plan adds and looks up every backend's id, tens of thousands in a
 * large config, which a hashed Set makes a measurable part of a reload.
 */
export class IdSet {
  private bytes: Uint8Array;

  /** `capacity`: ids expected below it (more are taken too). */
  constructor(capacity = 0) {
    this.bytes = new Uint8Array(capacity);
  }

  /** The ids of `items` (records' nums), without an array of them in between. */
  static of<T>(items: readonly T[], id: (item: T) => number, capacity = 0): IdSet {
    const set = new IdSet(capacity);
    for (const item of items) set.add(id(item));
    return set;
  }

  add(id: number): void {
    if (id >= this.bytes.length) {
      const grown = new Uint8Array(Math.max(id + 1, this.bytes.length * 2));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[id] = 1;
  }

  has(id: number): boolean {
    return this.bytes[id] === 1;
  }
}

export class IdAllocator {
  private next = 0;

  constructor(
    private readonly used: IdSet,
    private readonly capacity: number,
  ) {}

  /** The next free id, or undefined when the map is full. */
  take(): number | undefined {
    while (this.next < this.capacity && this.used.has(this.next)) this.next++;
    if (this.next >= this.capacity) return undefined;
    this.used.add(this.next);
    return this.next++;
  }
}
