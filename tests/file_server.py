"""A file server on 127.0.0.1 for the download tests: the tests never reach the internet."""
import http.server
import threading


class FileServer:
    """Serves `files` (name -> bytes) on 127.0.0.1 until `close()`.

    `requests` lists the names asked for with GET, in order. Mode 'drop' announces the whole file but
    closes the connection after half of its body (an interrupted transfer). HEAD answers with the size,
    which the downloader asks for when no checksum is known.
    """

    def __init__(self, files, mode="whole"):
        self.files, self.mode, self.requests = dict(files), mode, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2] if server.mode == "drop" else data)

            def do_HEAD(self):
                data = server.files.get(self.path.lstrip("/"))
                self.send_response(404 if data is None else 200)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
