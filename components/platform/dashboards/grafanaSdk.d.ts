// The SDK publishes its modules through package.json "exports" only, which TypeScript's
// `moduleResolution: node` does not read; these declarations point the subpaths we import at the
// SDK's own type files. At run time Node resolves the same subpaths through "exports".
declare module "@grafana/grafana-foundation-sdk/cog" {
  export * from "@grafana/grafana-foundation-sdk/dist/cog/index";
}
declare module "@grafana/grafana-foundation-sdk/common" {
  export * from "@grafana/grafana-foundation-sdk/dist/common/index";
}
declare module "@grafana/grafana-foundation-sdk/dashboard" {
  export * from "@grafana/grafana-foundation-sdk/dist/dashboard/index";
}
declare module "@grafana/grafana-foundation-sdk/prometheus" {
  export * from "@grafana/grafana-foundation-sdk/dist/prometheus/index";
}
declare module "@grafana/grafana-foundation-sdk/stat" {
  export * from "@grafana/grafana-foundation-sdk/dist/stat/index";
}
declare module "@grafana/grafana-foundation-sdk/timeseries" {
  export * from "@grafana/grafana-foundation-sdk/dist/timeseries/index";
}
