// Node-RED settings for bench/linkage: a stock installation as a user would run it (editor on,
// default runtime), bound to loopback, with two changes that make it run unattended here:
// credentials stored without an encryption key (the flow generator writes them in clear), and
// no update/diagnostics calls home (this machine reaches no network).
module.exports = {
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    flowFilePretty: true,
    credentialSecret: false,
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    logging: { console: { level: "info", metrics: false, audit: false } },
    exportGlobalContextKeys: false,
    editorTheme: { projects: { enabled: false } },
    functionExternalModules: false,
    functionTimeout: 0,
};
