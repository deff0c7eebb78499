/** A dependency graph of results (Celery's DependencyGraph, C-148). */

/** Parent → child edges between result ids. */
export class DependencyGraph {
  private readonly adjacent = new Map<string, string[]>();

  /** Add a node with no edges. */
  addNode(id: string): void {
    if (!this.adjacent.has(id)) this.adjacent.set(id, []);
  }

  /** Add an edge from `parent` to `child`. */
  addEdge(parent: string, child: string): void {
    this.addNode(parent);
    this.addNode(child);
    const list = this.adjacent.get(parent) as string[];
    if (!list.includes(child)) list.push(child);
  }

  /** Every node id, in insertion order. */
  nodes(): string[] {
    return [...this.adjacent.keys()];
  }

  /** Edges as `[parent, child]` pairs. */
  edges(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [p, cs] of this.adjacent) for (const c of cs) out.push([p, c]);
    return out;
  }

  /** Direct children of a node. */
  childrenOf(id: string): string[] {
    return [...(this.adjacent.get(id) ?? [])];
  }

  /** Number of transitive dependents of a node (Celery's valency). */
  valencyOf(id: string): number {
    const seen = new Set<string>();
    const walk = (n: string): void => {
      for (const c of this.adjacent.get(n) ?? []) {
        if (!seen.has(c)) {
          seen.add(c);
          walk(c);
        }
      }
    };
    walk(id);
    return seen.size;
  }

  /** Nodes with no parent. */
  roots(): string[] {
    const hasParent = new Set(this.edges().map(([, c]) => c));
    return this.nodes().filter((n) => !hasParent.has(n));
  }

  /** Text form: each node as `id(valency)` with its dependents indented below. */
  format(): string {
    const lines: string[] = [];
    const walk = (n: string, depth: number): void => {
      lines.push(`${'    '.repeat(depth)}${n}(${this.valencyOf(n)})`);
      for (const c of this.adjacent.get(n) ?? []) walk(c, depth + 1);
    };
    for (const r of this.roots()) walk(r, 0);
    return lines.join('\n');
  }

  /** Graphviz dot text: `digraph dependencies { … }`. */
  toDot(): string {
    const q = (s: string): string => JSON.stringify(s);
    const lines = ['digraph dependencies {'];
    const roots = this.roots();
    if (roots.length) lines.push(`    root=${q(roots[0])};`);
    for (const n of this.nodes()) lines.push(`    ${q(n)} [label=${q(`${n} (${this.valencyOf(n)})`)}];`);
    for (const [p, c] of this.edges()) lines.push(`    ${q(p)} -> ${q(c)};`);
    lines.push('}');
    return lines.join('\n');
  }

  toString(): string {
    return this.format();
  }
}
