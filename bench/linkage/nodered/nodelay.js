// Preload for Node-RED in bench/linkage (`node -r nodelay.js red.js ...`): turns Nagle's
// algorithm off (TCP_NODELAY) on every outgoing TCP connection, which Node-RED's MQTT client
// (MQTT.js over net.createConnection) leaves on. Without it each small QoS 1 publish may wait
// for the previous segment's ACK (delayed ACK, ~40 ms on Linux). Says once per connection on
// stderr that it did so, so that the benchmark log shows the option took effect.
'use strict';
const net = require('net');
const connect = net.Socket.prototype.connect;
let n = 0;
net.Socket.prototype.connect = function (...args) {
    this.once('connect', () => {
        this.setNoDelay(true);
        n += 1;
        process.stderr.write(`linkage-nodelay: TCP_NODELAY on connection ${n} to ${this.remoteAddress}:${this.remotePort}\n`);
    });
    return connect.apply(this, args);
};
