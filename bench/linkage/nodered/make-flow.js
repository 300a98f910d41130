// Writes the Node-RED flow of bench/linkage: the rule "gas.leak in building B → unlock every door
// controller of B" built the way a Node-RED user builds it: an "mqtt in" node on every device's
// up/event, a "switch" on msg.payload.type, a "function" that makes one command per door of the
// sensor's building (the door list pasted in as a table, as the user would copy it from the
// registry), and an "mqtt out" node. Command payload as in docs/protocol.md.
//
// usage: node make-flow.js PLAN_JSON USER_DIR HOST PORT USERNAME PASSWORD CLIENT_ID
//   PLAN_JSON: written by `linli-bench-linkage plan` (doors_by_sensor); writes
//   USER_DIR/flows.json and USER_DIR/flows_cred.json (credentials in clear: settings.js has
//   credentialSecret false).
'use strict';
const fs = require('fs');
const path = require('path');

const [planPath, userDir, host, port, username, password, clientId] = process.argv.slice(2);
if (!clientId) {
    process.stderr.write('usage: node make-flow.js PLAN_JSON USER_DIR HOST PORT USERNAME PASSWORD CLIENT_ID\n');
    process.exit(2);
}
const plan = JSON.parse(fs.readFileSync(planPath, 'utf8'));
const doors = {};
for (const [sensor, v] of Object.entries(plan.doors_by_sensor)) doors[sensor] = v.doors;

const func = `// gas.leak → unlock every door controller of the sensor's building.
// Door controllers by gas sensor (from the registry: devices with the same building_id).
const doorsBySensor = ${JSON.stringify(doors)};
// Topic: linli/v1/{compound}/{device}/up/event
const parts = msg.topic.split('/');
const compound = parts[2];
const sensor = parts[3];
const doors = doorsBySensor[sensor];
if (!doors || !msg.payload || typeof msg.payload.id !== 'string') {
    return null;
}
const now = Date.now();
const out = doors.map(door => ({
    topic: \`linli/v1/\${compound}/\${door}/down/command\`,
    payload: {
        id: RED.util.generateId(),
        ts: now,
        name: 'unlock',
        args: { duration_s: 30 },
        expires: now + 30000,
        cause: { kind: 'event', id: msg.payload.id }
    }
}));
return [out];
`;

const flows = [
    { id: 'linkage-tab', type: 'tab', label: 'Gas leak → unlock the building\'s doors', disabled: false, info: '' },
    {
        id: 'linli-broker', type: 'mqtt-broker', name: 'linli mosquitto', broker: host, port: String(port),
        clientid: clientId, autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60',
        cleansession: true, autoUnsubscribe: true,
        birthTopic: '', birthQos: '0', birthRetain: 'false', birthPayload: '', birthMsg: {},
        closeTopic: '', closeQos: '0', closeRetain: 'false', closePayload: '', closeMsg: {},
        willTopic: '', willQos: '0', willRetain: 'false', willPayload: '', willMsg: {},
        userProps: '', sessionExpiry: ''
    },
    {
        id: 'events-in', type: 'mqtt in', z: 'linkage-tab', name: 'device events', topic: 'linli/v1/+/+/up/event',
        qos: '1', datatype: 'json', broker: 'linli-broker', nl: false, rap: true, rh: 0, inputs: 0,
        x: 130, y: 100, wires: [['is-gas-leak']]
    },
    {
        id: 'is-gas-leak', type: 'switch', z: 'linkage-tab', name: 'gas.leak?', property: 'payload.type',
        propertyType: 'msg', rules: [{ t: 'eq', v: 'gas.leak', vt: 'str' }], checkall: 'true', repair: false,
        outputs: 1, x: 320, y: 100, wires: [['unlock-doors']]
    },
    {
        id: 'unlock-doors', type: 'function', z: 'linkage-tab', name: 'unlock the building\'s doors', func,
        outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 530, y: 100,
        wires: [['commands-out']]
    },
    {
        id: 'commands-out', type: 'mqtt out', z: 'linkage-tab', name: 'door commands', topic: '', qos: '1',
        retain: 'false', respTopic: '', contentType: '', userProps: '', correl: '', expiry: '',
        broker: 'linli-broker', x: 760, y: 100, wires: []
    }
];
fs.mkdirSync(userDir, { recursive: true });
fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows, null, 4) + '\n');
fs.writeFileSync(path.join(userDir, 'flows_cred.json'),
    JSON.stringify({ 'linli-broker': { user: username, password } }, null, 4) + '\n', { mode: 0o600 });
process.stdout.write(`make-flow: ${Object.keys(doors).length} sensors, flow written to ${userDir}\n`);
