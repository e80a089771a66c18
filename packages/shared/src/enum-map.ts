// One table per protobuf enum, read both ways: a domain value always has a wire value, and an
// incoming wire value the table does not know is a WireError naming the field.
import { WireError } from './errors.js';

export interface EnumMap<D extends string, W extends number> {
  toWire(value: D): W;
  fromWire(value: W, path: string): D;
}

export function enumMap<D extends string, W extends number>(pairs: ReadonlyArray<readonly [D, W]>, name: string): EnumMap<D, W> {
  const toW = new Map<D, W>(pairs);
  const fromW = new Map<number, D>(pairs.map(([d, w]) => [w, d]));
  return {
    toWire(value) {
      const w = toW.get(value);
      if (w === undefined) throw new Error(`no wire value for ${name} ${value}`);
      return w;
    },
    fromWire(value, path) {
      const d = fromW.get(value);
      if (d === undefined) throw new WireError(path, `unknown ${name} value ${value}`);
      return d;
    },
  };
}
