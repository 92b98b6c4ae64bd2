// Jest runs each test file in its own realm, so a BigInt64Array made there is not an instance of
// the BigInt64Array that onnxruntime-node checks against. Tests of code that builds ONNX Runtime
// tensors use this environment (docblock `@jest-environment`), which hands them the host's
// typed-array constructors.
const { TestEnvironment } = require("jest-environment-node");

class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of ["BigInt64Array", "Float32Array"]) this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArraysEnvironment;
