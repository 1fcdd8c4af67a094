// wgsl-preprocessor ships no typings and no "main"/"exports" (only wgsl-preprocessor.js), so it is imported by file path.
// Its single export is a template-literal tag that resolves #if/#elif/#else/#endif.
declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
