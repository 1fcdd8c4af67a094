/**
 * One description per kernel variant (as tfjs-backend-webgpu does): the WGSL source, its bindings by name and
 * type, the workgroup size. The algorithm choice (which variant, which tile sizes) lives in src/net; the kernels
 * live in shaders/; this file turns descriptions into pipelines and named bindings into bind groups.
 *
 * Bindings are declared once, in TypeScript (as TypeGPU does): `uniform(struct)`, `read(type)`,
 * `readWrite(type)`, `storageTexture(format)`. `computeProgram` generates the WGSL struct and `@binding`
 * declarations from them, in declaration order, so the shader and the bind group layout cannot disagree; call
 * sites bind by name (`{ params: { width, height }, input, output }`), a uniform either as its field values
 * (packed here by the struct's layout) or as a buffer of exactly the struct's size. A missing, unknown or
 * mistyped binding, a missing or unknown uniform field, or a wrongly sized uniform buffer throws
 * `BindingError` naming the program and the binding.
 */

/** WGSL scalar types a uniform struct may hold (each 4 bytes, 4-byte aligned). */
export type ScalarType = 'u32' | 'i32' | 'f32';
export type StructFields = Readonly<Record<string, ScalarType>>;
export type StructValues<F extends StructFields> = { readonly [K in keyof F]: number };

/** A uniform struct declared once by name and field types; its WGSL and its packing both come from here. */
export interface UniformStruct<F extends StructFields = StructFields> {
  readonly name: string;
  readonly fields: F;
  /** Bytes of the packed struct: 4 per field, rounded up to 16 (a uniform buffer's granularity). */
  readonly byteSize: number;
  /** The WGSL declaration `struct Name { field: type, ... }`. */
  readonly wgsl: string;
  /** Packs field values in declaration order; throws BindingError on a missing, unknown or invalid field. */
  pack(values: StructValues<F>, where?: string): ArrayBuffer;
}

/** A binding of the wrong name, kind or size, or a uniform with wrong fields. */
export class BindingError extends Error {
  override name = 'BindingError';
}

const U32_MAX = 2 ** 32 - 1;

export function uniformStruct<const F extends StructFields>(name: string, fields: F): UniformStruct<F> {
  const names = Object.keys(fields);
  if (names.length === 0) throw new BindingError(`struct ${name} has no fields`);
  const byteSize = Math.ceil((names.length * 4) / 16) * 16;
  const wgsl = `struct ${name} { ${names.map((f) => `${f}: ${fields[f]}`).join(', ')} }`;
  return {
    name,
    fields,
    byteSize,
    wgsl,
    pack(values, where = `struct ${name}`) {
      const data = new ArrayBuffer(byteSize);
      const u32 = new Uint32Array(data);
      const i32 = new Int32Array(data);
      const f32 = new Float32Array(data);
      const given = values as Readonly<Record<string, unknown>>;
      for (const key of Object.keys(given)) {
        if (!(key in fields)) throw new BindingError(`${where}: '${key}' is not a field of ${name} (fields: ${names.join(', ')})`);
      }
      names.forEach((field, i) => {
        const value = given[field];
        const type = fields[field];
        if (typeof value !== 'number' || Number.isNaN(value))
          throw new BindingError(`${where}: field '${field}' (${type}) is ${value === undefined ? 'not given' : `not a number: ${JSON.stringify(value)}`}`);
        if (type === 'f32') {
          f32[i] = value;
        } else if (!Number.isInteger(value) || (type === 'u32' ? value < 0 || value > U32_MAX : value < -(2 ** 31) || value >= 2 ** 31)) {
          throw new BindingError(`${where}: field '${field}' is ${type} but got ${value}`);
        } else if (type === 'u32') {
          u32[i] = value;
        } else {
          i32[i] = value;
        }
      });
      return data;
    },
  };
}

export interface UniformBinding<F extends StructFields = StructFields> {
  readonly kind: 'uniform';
  readonly struct: UniformStruct<F>;
}
export interface StorageBinding {
  readonly kind: 'read' | 'read_write';
  /** The WGSL type, e.g. `array<vec4f>`. */
  readonly type: string;
}
export interface StorageTextureBinding {
  readonly kind: 'storage_texture';
  readonly format: GPUTextureFormat;
}
export type BindingDeclaration = UniformBinding | StorageBinding | StorageTextureBinding;
/** Bindings by name, in @binding order; a variant without a binding declares it `undefined`. */
export type BindingDeclarations = Readonly<Record<string, BindingDeclaration | undefined>>;

export const uniform = <F extends StructFields>(struct: UniformStruct<F>): UniformBinding<F> => ({ kind: 'uniform', struct });
export const read = (type: string): StorageBinding => ({ kind: 'read', type });
export const readWrite = (type: string): StorageBinding => ({ kind: 'read_write', type });
export const storageTexture = (format: GPUTextureFormat): StorageTextureBinding => ({ kind: 'storage_texture', format });

/** What a call site binds: a buffer, a uniform's field values (or its buffer), a texture view. */
type BindingValue<D> = D extends UniformBinding<infer F> ? StructValues<F> | GPUBuffer : D extends StorageTextureBinding ? GPUTextureView : GPUBuffer;
type RequiredNames<B> = { [K in keyof B]-?: undefined extends B[K] ? never : K }[keyof B];
type OptionalNames<B> = Exclude<keyof B, RequiredNames<B>>;
/** The bindings of program B by name: those a variant may lack are optional (and checked at run time). */
export type BindingValues<B extends BindingDeclarations> = { [K in RequiredNames<B>]: BindingValue<B[K]> } & {
  [K in OptionalNames<B>]?: BindingValue<NonNullable<B[K]>>;
};

export interface ComputeProgram<B extends BindingDeclarations = BindingDeclarations> {
  /** Unique per distinct WGSL source: pipelines are cached under it. */
  key: string;
  /** Human-readable label for GPU debuggers and timing tables. */
  label: string;
  /** The whole WGSL module: generated declarations, then the kernel's own code. */
  code: string;
  /** Bindings by name in @binding order, all in @group(0). */
  bindings: B;
  /** Invocations per workgroup (1-D; kernels use @workgroup_size(workgroupSize)). */
  workgroupSize: number;
}

/** The declared (present) bindings of a program in @binding order. */
export function declaredBindings(bindings: BindingDeclarations): Array<[string, BindingDeclaration]> {
  return Object.entries(bindings).filter((e): e is [string, BindingDeclaration] => e[1] !== undefined);
}

/** WGSL declarations of `bindings`: each uniform struct once, then one `@binding` line per binding. */
export function bindingDeclarationsWgsl(bindings: BindingDeclarations): string {
  const structs = new Map<string, string>();
  const lines = declaredBindings(bindings).map(([name, d], index) => {
    const head = `@group(0) @binding(${index})`;
    switch (d.kind) {
      case 'uniform': {
        const known = structs.get(d.struct.name);
        if (known !== undefined && known !== d.struct.wgsl) throw new BindingError(`two different structs are named ${d.struct.name}`);
        structs.set(d.struct.name, d.struct.wgsl);
        return `${head} var<uniform> ${name}: ${d.struct.name};`;
      }
      case 'storage_texture':
        return `${head} var ${name}: texture_storage_2d<${d.format}, write>;`;
      default:
        return `${head} var<storage, ${d.kind}> ${name}: ${d.type};`;
    }
  });
  return [...structs.values(), ...lines].join('\n');
}

/**
 * A program whose declarations are generated from `bindings`: `body` is the rest of the kernel (functions and
 * `main`), `enable` its WGSL extensions (e.g. 'f16'), which WGSL requires before any declaration.
 */
export function computeProgram<const B extends BindingDeclarations>(d: {
  key: string;
  label: string;
  workgroupSize: number;
  bindings: B;
  body: string;
  enable?: readonly string[];
}): ComputeProgram<B> {
  const enables = (d.enable ?? []).map((e) => `enable ${e};\n`).join('');
  const code = `${enables}// ${d.label}\n${bindingDeclarationsWgsl(d.bindings)}\n${d.body}`;
  return { key: d.key, label: d.label, code, bindings: d.bindings, workgroupSize: d.workgroupSize };
}

/**
 * Checks the WGSL against the declarations once per pipeline: the code must hold exactly the generated binding
 * lines (no hand-written `@binding` beside them) and use every binding it declares.
 */
export function checkProgram(program: { label: string; code: string; bindings: BindingDeclarations }): void {
  const declared = declaredBindings(program.bindings);
  const bindingLines = program.code.match(/@binding\(/g)?.length ?? 0;
  if (bindingLines !== declared.length) {
    throw new BindingError(
      `${program.label}: the WGSL has ${bindingLines} @binding declarations, the program declares ${declared.length} (${declared.map(([n]) => n).join(', ')})`,
    );
  }
  const header = bindingDeclarationsWgsl(program.bindings);
  const body = program.code.replace(header, '');
  for (const [name] of declared) {
    if (!new RegExp(`\\b${name}\\b`).test(body)) throw new BindingError(`${program.label}: binding '${name}' is declared but the WGSL never uses it`);
  }
}

/** Bind group layout entries of `bindings` in @binding order. */
export function bindGroupLayoutEntries(bindings: BindingDeclarations): GPUBindGroupLayoutEntry[] {
  return declaredBindings(bindings).map(([, d], binding) => {
    const visibility = GPUShaderStage.COMPUTE;
    if (d.kind === 'storage_texture') return { binding, visibility, storageTexture: { access: 'write-only', format: d.format } };
    return { binding, visibility, buffer: { type: d.kind === 'uniform' ? 'uniform' : d.kind === 'read' ? 'read-only-storage' : 'storage' } };
  });
}

const isBuffer = (value: unknown): value is GPUBuffer => typeof value === 'object' && value !== null && 'usage' in value && 'size' in value && 'mapAsync' in value;

/**
 * Bind group entries for `values`, bound by name. Uniforms given as field values are packed and put into buffers
 * made by `makeUniform` (the caller owns them). Throws BindingError on any mismatch with the declarations.
 */
export function bindGroupEntries<B extends BindingDeclarations>(
  program: { label: string; bindings: B },
  values: BindingValues<B>,
  makeUniform: (data: ArrayBuffer, label: string) => GPUBuffer,
): GPUBindGroupEntry[] {
  const declared = declaredBindings(program.bindings);
  const names = declared.map(([n]) => n);
  const given = values as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(given)) {
    if (given[key] !== undefined && !names.includes(key)) {
      throw new BindingError(`${program.label}: '${key}' is not one of its bindings (${names.join(', ')})`);
    }
  }
  return declared.map(([name, d], binding) => {
    const value = given[name];
    const where = `${program.label} binding '${name}'`;
    if (value === undefined) throw new BindingError(`${where} is not given (bindings: ${names.join(', ')})`);
    if (d.kind === 'storage_texture') {
      if (isBuffer(value)) throw new BindingError(`${where} is a storage texture, got a buffer`);
      return { binding, resource: value as GPUTextureView };
    }
    if (d.kind === 'uniform') {
      if (isBuffer(value)) {
        if (!(value.usage & GPUBufferUsage.UNIFORM)) throw new BindingError(`${where} needs a uniform buffer, got '${value.label}' without UNIFORM usage`);
        if (value.size !== d.struct.byteSize) {
          throw new BindingError(`${where}: buffer '${value.label}' is ${value.size} bytes, struct ${d.struct.name} is ${d.struct.byteSize}`);
        }
        return { binding, resource: { buffer: value } };
      }
      const data = d.struct.pack(value as StructValues<StructFields>, where);
      return { binding, resource: { buffer: makeUniform(data, `${program.label} ${name}`) } };
    }
    if (!isBuffer(value)) throw new BindingError(`${where} needs a storage buffer`);
    if (!(value.usage & GPUBufferUsage.STORAGE)) throw new BindingError(`${where} needs a storage buffer, got '${value.label}' without STORAGE usage`);
    return { binding, resource: { buffer: value } };
  });
}

/** Caches shader modules and pipelines by program key, so each variant compiles once per device. */
export class PipelineCache {
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  compiled = 0;

  constructor(private readonly device: GPUDevice) {}

  get(program: ComputeProgram): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let entry = this.pipelines.get(program.key);
    if (!entry) {
      checkProgram(program);
      const layout = this.device.createBindGroupLayout({ label: program.label, entries: bindGroupLayoutEntries(program.bindings) });
      const module = this.device.createShaderModule({ label: program.label, code: program.code });
      const pipeline = this.device.createComputePipeline({
        label: program.label,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      entry = { pipeline, layout };
      this.pipelines.set(program.key, entry);
      this.compiled++;
    }
    return entry;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

/**
 * Splits a 1-D invocation count into a 2-D workgroup grid that respects maxComputeWorkgroupsPerDimension.
 * Kernels rebuild the linear index from @builtin(num_workgroups) (see shaders/common.ts).
 */
export function workgroupGrid(invocations: number, workgroupSize: number, maxPerDimension = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}
