/**
 * Ids for new services and backends: the lowest index not in use, below the
 * map's capacity. Reusing low ids keeps the arrays dense; an id is only
 * reused after the plan that frees it, since live ids are taken up front.
 */
export class IdAllocator {
  private next = 0;

  constructor(
    private readonly used: Set<number>,
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
