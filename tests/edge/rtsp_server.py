#!/usr/bin/python3
"""A real RTSP server on loopback for linli-edge's tests (GStreamer's gst-rtsp-server).

Serves rtsp://127.0.0.1:<port>/test: a live 640x360 H.264 stream (videotestsrc "ball" pattern,
x264enc, 25 fps, key frame every 10 frames). Binds a free port and prints "PORT <n>" on stdout
when it listens. Tests make it stall with SIGSTOP and come back with SIGCONT.

Exit status 77 (with the reason on stderr) when GStreamer, its RTSP server library or a needed
element is missing: the test then skips (see scripts/setup for the packages).
"""
import signal
import sys

try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as e:  # missing python3-gi or gir1.2-gst-rtsp-server-1.0
    print(f"rtsp_server: cannot import GStreamer RTSP server: {e}", file=sys.stderr)
    sys.exit(77)

Gst.init(None)
for element in ("videotestsrc", "x264enc", "rtph264pay", "videoconvert"):
    if Gst.ElementFactory.find(element) is None:
        print(f"rtsp_server: GStreamer element {element} is missing", file=sys.stderr)
        sys.exit(77)

fps = int(sys.argv[1]) if len(sys.argv) > 1 else 25
launch = (
    "( videotestsrc is-live=true pattern=ball ! "
    f"video/x-raw,width=640,height=360,framerate={fps}/1 ! videoconvert ! "
    f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={max(1, fps // 2)} bitrate=800 ! "
    "rtph264pay name=pay0 pt=96 config-interval=1 )"
)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service("0")  # a free port
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
server.get_mount_points().add_factory("/test", factory)
if server.attach(None) == 0:
    print("rtsp_server: cannot bind a port", file=sys.stderr)
    sys.exit(1)
print(f"PORT {server.get_bound_port()}", flush=True)

loop = GLib.MainLoop()
signal.signal(signal.SIGTERM, lambda *_: loop.quit())
# Stop by itself after a while, whatever happens to the test.
GLib.timeout_add_seconds(int(sys.argv[2]) if len(sys.argv) > 2 else 120, loop.quit)
loop.run()
