// The tags of the vector files (tests/vectors/cluster.json and sio_msgpack.json: see their
// _doc) as JavaScript values, for the scripts that cross-check those files against Node's own
// encoders (notepack_vectors.mjs, msgpack_parser_vectors.mjs).

export function toJS(value) {
  if (Array.isArray(value)) return value.map(toJS);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1) {
      if (keys[0] === "$bytes") return Buffer.from(value.$bytes, "hex");
      if (keys[0] === "$float") return Number(value.$float);
      if (keys[0] === "$date") return new Date(value.$date);
      if (keys[0] === "$undefined") return undefined;
    }
    const out = {};
    for (const key of keys) out[key] = toJS(value[key]);
    return out;
  }
  return value;
}
