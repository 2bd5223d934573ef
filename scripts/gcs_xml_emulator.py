#!/usr/bin/env python3
"""A GCS emulator for the object-store conformance tests: gcp-storage-emulator plus an XML-API shim.

The emulator is gcp-storage-emulator (PyPI, pinned in scripts/stores.sh): its storage (buckets,
object resources with generations and MD5/CRC32C checksums, in memory) and its JSON API
(/storage/v1/..., /upload/..., /download/..., the health check at /) are used unchanged.

What it lacks is the XML API (https://cloud.google.com/storage/docs/xml-api/overview), which
object_store's GCS client speaks for everything but authentication. This file adds that, on top of
the emulator's storage, and nothing else:

  GET    /<bucket>?list-type=2          ListObjectsV2-style listing: prefix, delimiter
                                        (CommonPrefixes), max-keys, continuation-token, start-after
  PUT    /<bucket>/<object>             upload; x-goog-if-generation-match (0 = create-only),
                                        x-goog-copy-source (copy), Content-Type, x-goog-meta-*
  GET    /<bucket>/<object>, HEAD       download with Range (a-b, a-, -n), If-Match, If-None-Match,
                                        If-(Un)Modified-Since, ?generation; ETag, Last-Modified,
                                        x-goog-generation headers
  DELETE /<bucket>/<object>
  POST   /<bucket>/<object>?uploads     XML multipart upload: initiate,
  PUT    ...?partNumber=N&uploadId=U      upload a part,
  POST   ...?uploadId=U                   complete (CompleteMultipartUpload XML; every part but
                                          the last at least 5 MiB, as on GCS),
  DELETE ...?uploadId=U                   abort.

As on GCS, a multipart upload's parts are held aside (here: in this process's memory) and the object
appears only when the upload is completed, so an upload that is never completed is never visible.
The ETag of an object is the quoted hex MD5 of its content (GCS gives composite objects another
form; nothing here depends on it). Requests are served on threads, one at a time against the
storage (a lock), over HTTP/1.0 (one request per connection).

usage: gcs_xml_emulator.py --host 127.0.0.1 --port PORT [--default-bucket NAME] [--quiet]
"""

import argparse
import base64
import email.utils
import hashlib
import logging
import re
import secrets
import sys
import threading
import traceback
from datetime import datetime, timezone
from functools import partial
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import buckets as emulator_buckets
from gcp_storage_emulator.handlers import objects as emulator_objects
from gcp_storage_emulator.storage import Storage

log = logging.getLogger("gcs-xml")

# Paths that belong to the emulator's own (JSON) API; everything else of the form /<bucket>[/<object>]
# is the XML API.
EMULATOR_PATHS = re.compile(r"^/(?:$|b$|b/|wipe$|storage/|upload/|download/|batch/)")
XML_PATH = re.compile(r"^/(?P<bucket>[^/]+)(?:/(?P<object>.+))?$")  # both percent-encoded
MIN_PART = 5 * 1024 * 1024  # GCS: every part but the last is at least 5 MiB
MAX_KEYS = 1000
XML_DECL = "<?xml version='1.0' encoding='UTF-8'?>"

LOCK = threading.Lock()  # the emulator's storage is not thread-safe
UPLOADS = {}  # upload id -> {"bucket", "object", "headers", "parts": {number: (etag, bytes)}}


class XmlError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def not_found(what="key"):
    if what == "bucket":
        return XmlError(HTTPStatus.NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist.")
    return XmlError(HTTPStatus.NOT_FOUND, "NoSuchKey", "The specified key does not exist.")


def precondition_failed():
    return XmlError(
        HTTPStatus.PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold.",
    )


def etag_of(content):
    return '"{}"'.format(hashlib.md5(content).hexdigest())


def obj_etag(obj):
    return '"{}"'.format(base64.b64decode(obj["md5Hash"]).hex())


def obj_time(obj):
    return datetime.strptime(obj["updated"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def http_date(dt):
    return email.utils.format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def parse_http_date(value):
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class Handler(emulator.RequestHandler):
    """The emulator's request handler, with the XML API in front of its router."""

    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def log_message(self, format, *args):
        log.info("%s %s", self.address_string(), format % args)

    def dispatch(self, method):
        url = urlparse(self.path)
        m = None if EMULATOR_PATHS.match(url.path) else XML_PATH.match(url.path)
        if m is None:
            if method == "HEAD":
                return self.reply(HTTPStatus.NOT_IMPLEMENTED, head=True)
            with LOCK:  # the emulator itself
                return emulator.Router(self).handle(method)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.bucket = unquote(m.group("bucket"))
        self.object = unquote(m.group("object")) if m.group("object") else None
        try:
            body = self.read_body()
        except (ConnectionError, ValueError) as e:  # a client gone mid-body: store nothing
            log.info("%s %s: incomplete request body (%s); nothing stored", method, self.path, e)
            self.close_connection = True
            return
        try:
            with LOCK:
                self.route(method, body)
        except XmlError as e:
            self.reply(
                e.status,
                "{}<Error><Code>{}</Code><Message>{}</Message></Error>".format(
                    XML_DECL, e.code, escape(e.message)
                ),
                headers=e.headers,
                head=method == "HEAD",
            )
        except Exception:  # a bug here: say so, in the log and the answer
            log.error("%s %s failed:\n%s", method, self.path, traceback.format_exc())
            self.reply(HTTPStatus.INTERNAL_SERVER_ERROR, traceback.format_exc(), head=method == "HEAD")

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is not None:
            body = self.rfile.read(int(n)) if int(n) else b""
            if len(body) != int(n):
                raise ConnectionError(f"{len(body)} of {n} bytes")
            return body
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                if not line:
                    raise ConnectionError("the chunked body ended early")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return out
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("the chunked body ended early")
                out += chunk
                self.rfile.readline()
        return b""

    def reply(self, status, body=b"", headers=None, head=False):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(int(status))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body and not any(k.lower() == "content-type" for k in (headers or {})):
            self.send_header("Content-Type", "application/xml; charset=UTF-8")
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    # -- routing ---------------------------------------------------------------------------------

    def route(self, method, body):
        storage = self.storage
        if storage.get_bucket(self.bucket) is None:
            raise not_found("bucket")
        q = self.query
        if self.object is None:
            if method == "GET":
                return self.list_objects()
            raise XmlError(HTTPStatus.NOT_IMPLEMENTED, "NotImplemented", f"{method} on a bucket")
        if method == "POST" and "uploads" in q:
            return self.multipart_initiate()
        if method == "PUT" and "uploadId" in q and "partNumber" in q:
            return self.multipart_part(body)
        if method == "POST" and "uploadId" in q:
            return self.multipart_complete(body)
        if method == "DELETE" and "uploadId" in q:
            return self.multipart_abort()
        if method == "PUT" and self.headers.get("x-goog-copy-source"):
            return self.copy_object()
        if method == "PUT":
            return self.put_object(body)
        if method in ("GET", "HEAD"):
            return self.get_object(head=method == "HEAD")
        if method == "DELETE":
            try:
                storage.delete_file(self.bucket, self.object)
            except NotFound:
                raise not_found()
            return self.reply(HTTPStatus.NO_CONTENT)
        raise XmlError(HTTPStatus.NOT_IMPLEMENTED, "NotImplemented", f"{method} on an object")

    # -- objects ---------------------------------------------------------------------------------

    def current(self, bucket=None, name=None):
        try:
            return self.storage.get_file_obj(bucket or self.bucket, name or self.object)
        except NotFound:
            return None

    def check_generation_match(self, existing):
        want = self.headers.get("x-goog-if-generation-match")
        if want is None:
            return
        have = existing["generation"] if existing else "0"
        if str(want).strip() != str(have):
            raise precondition_failed()

    def store(self, content, headers, bucket=None, name=None):
        """Writes an object through the emulator's storage; returns its resource."""
        bucket, name = bucket or self.bucket, name or self.object
        headers = {k.lower(): v for k, v in headers.items()}
        content_type = headers.get("content-type") or "application/octet-stream"
        obj = emulator_objects._make_object_resource(
            self.base_url(), bucket, name, content_type, str(len(content))
        )
        obj = emulator_objects._checksums(content, obj)
        for header, field in (
            ("cache-control", "cacheControl"),
            ("content-disposition", "contentDisposition"),
            ("content-encoding", "contentEncoding"),
            ("content-language", "contentLanguage"),
            ("x-goog-storage-class", "storageClass"),
        ):
            if headers.get(header):
                obj[field] = headers[header]
        meta = {
            k[len("x-goog-meta-") :]: v
            for k, v in headers.items()
            if k.startswith("x-goog-meta-")
        }
        if meta:
            obj["metadata"] = meta
        self.storage.create_file(bucket, name, content, obj)
        return obj

    def base_url(self):
        return "http://{}".format(self.headers.get("Host") or "{}:{}".format(*self.server.server_address))

    def put_object(self, body):
        self.check_generation_match(self.current())
        obj = self.store(body, self.headers)
        self.reply(HTTPStatus.OK, headers=self.object_headers(obj))

    def copy_object(self):
        source = unquote(self.headers["x-goog-copy-source"].lstrip("/"))
        src_bucket, _, src_name = source.partition("/")
        src = self.current(src_bucket, src_name)
        if src is None:
            raise not_found()
        self.check_generation_match(self.current())
        content = self.storage.get_file(src_bucket, src_name)
        headers = {"Content-Type": src.get("contentType")}
        for field, header in (
            ("cacheControl", "Cache-Control"),
            ("contentDisposition", "Content-Disposition"),
            ("contentEncoding", "Content-Encoding"),
            ("contentLanguage", "Content-Language"),
        ):
            if src.get(field):
                headers[header] = src[field]
        for k, v in (src.get("metadata") or {}).items():
            headers["x-goog-meta-" + k] = v
        obj = self.store(content, headers)
        self.reply(
            HTTPStatus.OK,
            "{}<CopyObjectResult><LastModified>{}</LastModified><ETag>{}</ETag></CopyObjectResult>".format(
                XML_DECL, obj["updated"], escape(obj_etag(obj))
            ),
            headers=self.object_headers(obj),
        )

    def object_headers(self, obj):
        h = {
            "ETag": obj_etag(obj),
            "Last-Modified": http_date(obj_time(obj)),
            "x-goog-generation": obj["generation"],
            "x-goog-metageneration": obj.get("metageneration", "1"),
            "x-goog-hash": "crc32c={},md5={}".format(obj["crc32c"], obj["md5Hash"]),
            "x-goog-stored-content-length": str(obj["size"]),
            "x-goog-storage-class": obj.get("storageClass", "STANDARD"),
        }
        return h

    def get_object(self, head):
        obj = self.current()
        generation = self.query.get("generation")
        if obj is None or (generation and generation != obj["generation"]):
            raise not_found()
        etag, modified = obj_etag(obj), obj_time(obj).replace(microsecond=0)
        if_match = self.headers.get("If-Match")
        if if_match and if_match.strip() not in ("*", etag) and if_match.strip() != etag.strip('"'):
            raise precondition_failed()
        since = parse_http_date(self.headers.get("If-Unmodified-Since"))
        if since and modified > since:
            raise precondition_failed()
        if_none = self.headers.get("If-None-Match")
        if if_none and if_none.strip() in ("*", etag, etag.strip('"')):
            return self.reply(HTTPStatus.NOT_MODIFIED, headers=self.object_headers(obj), head=True)
        since = parse_http_date(self.headers.get("If-Modified-Since"))
        if since and modified <= since:
            return self.reply(HTTPStatus.NOT_MODIFIED, headers=self.object_headers(obj), head=True)

        content = self.storage.get_file(self.bucket, self.object)
        size = len(content)
        headers = self.object_headers(obj)
        headers["Content-Type"] = obj.get("contentType") or "application/octet-stream"
        for field, header in (
            ("cacheControl", "Cache-Control"),
            ("contentDisposition", "Content-Disposition"),
            ("contentEncoding", "Content-Encoding"),
            ("contentLanguage", "Content-Language"),
        ):
            if obj.get(field):
                headers[header] = obj[field]
        for k, v in (obj.get("metadata") or {}).items():
            headers["x-goog-meta-" + k] = str(v)
        status = HTTPStatus.OK
        rng = self.headers.get("Range")
        if rng and not head:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not m or (m.group(1) == "" and m.group(2) == ""):
                raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidArgument", f"bad Range {rng!r}")
            if m.group(1) == "":  # the last n bytes
                start, end = max(0, size - int(m.group(2))), size - 1
            else:
                start = int(m.group(1))
                end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
            if start >= size or end < start:
                raise XmlError(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                    headers={"Content-Range": f"bytes */{size}"},
                )
            content = content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            status = HTTPStatus.PARTIAL_CONTENT
        headers["Content-Length"] = str(len(content))
        self.reply(status, content, headers=headers, head=head)

    # -- listing ---------------------------------------------------------------------------------

    def list_objects(self):
        q = self.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter") or None
        try:
            max_keys = min(MAX_KEYS, int(q.get("max-keys", MAX_KEYS)))
        except ValueError:
            raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidArgument", "bad max-keys")
        start_after = q.get("start-after", "")
        token, resume = q.get("continuation-token"), None
        if token:
            try:
                resume = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except ValueError:
                raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidArgument", "bad continuation-token")
        objs, _ = self.storage.get_file_list(self.bucket, prefix or None)
        objs.sort(key=lambda o: o["name"])
        contents, prefixes, last, truncated = [], [], None, False
        for obj in objs:
            name = obj["name"]
            entry = name
            if delimiter:
                i = name.find(delimiter, len(prefix))
                if i >= 0:
                    entry = name[: i + len(delimiter)]
            if name <= start_after or (resume is not None and entry <= resume) or entry == last:
                continue  # before the start, or already returned (a prefix covers many names)
            if len(contents) + len(prefixes) == max_keys:
                truncated = True
                break
            if entry != name:
                prefixes.append(entry)
            else:
                contents.append(obj)
            last = entry
        out = [XML_DECL, '<ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01">']
        out.append("<Name>{}</Name>".format(escape(self.bucket)))
        out.append("<Prefix>{}</Prefix>".format(escape(prefix)))
        if delimiter:
            out.append("<Delimiter>{}</Delimiter>".format(escape(delimiter)))
        out.append("<MaxKeys>{}</MaxKeys><KeyCount>{}</KeyCount>".format(max_keys, len(contents) + len(prefixes)))
        out.append("<IsTruncated>{}</IsTruncated>".format("true" if truncated else "false"))
        if truncated:
            out.append(
                "<NextContinuationToken>{}</NextContinuationToken>".format(
                    base64.urlsafe_b64encode(last.encode("utf-8")).decode()
                )
            )
        for obj in contents:
            out.append(
                "<Contents><Key>{}</Key><Generation>{}</Generation><MetaGeneration>{}</MetaGeneration>"
                "<LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size>"
                "<StorageClass>{}</StorageClass></Contents>".format(
                    escape(obj["name"]),
                    obj["generation"],
                    obj.get("metageneration", "1"),
                    obj["updated"],
                    escape(obj_etag(obj)),
                    obj["size"],
                    obj.get("storageClass", "STANDARD"),
                )
            )
        for p in prefixes:
            out.append("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>".format(escape(p)))
        out.append("</ListBucketResult>")
        self.reply(HTTPStatus.OK, "".join(out))

    # -- multipart uploads -----------------------------------------------------------------------

    def multipart_initiate(self):
        upload_id = secrets.token_urlsafe(24)
        keep = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
        UPLOADS[upload_id] = {"bucket": self.bucket, "object": self.object, "headers": keep, "parts": {}}
        self.reply(
            HTTPStatus.OK,
            "{}<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key>"
            "<UploadId>{}</UploadId></InitiateMultipartUploadResult>".format(
                XML_DECL, escape(self.bucket), escape(self.object), upload_id
            ),
        )

    def upload(self):
        up = UPLOADS.get(self.query["uploadId"])
        if up is None or (up["bucket"], up["object"]) != (self.bucket, self.object):
            raise XmlError(
                HTTPStatus.NOT_FOUND,
                "NoSuchUpload",
                "The requested upload was not found.",
            )
        return up

    def multipart_part(self, body):
        up = self.upload()
        try:
            n = int(self.query["partNumber"])
        except ValueError:
            n = 0
        if not 1 <= n <= 10000:
            raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidArgument", "partNumber must be 1..10000")
        etag = etag_of(body)
        up["parts"][n] = (etag, body)
        self.reply(HTTPStatus.OK, headers={"ETag": etag})

    def multipart_complete(self, body):
        up = self.upload()
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as e:
            raise XmlError(HTTPStatus.BAD_REQUEST, "MalformedXML", str(e))
        strip = lambda tag: tag.rsplit("}", 1)[-1]  # noqa: E731
        wanted = []
        for part in root:
            if strip(part.tag) != "Part":
                continue
            fields = {strip(c.tag): (c.text or "").strip() for c in part}
            wanted.append((int(fields.get("PartNumber", "0")), fields.get("ETag", "")))
        if not wanted:
            raise XmlError(HTTPStatus.BAD_REQUEST, "MalformedXML", "no parts")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidPartOrder", "parts must be in ascending order")
        chunks = []
        for i, (n, etag) in enumerate(wanted):
            have = up["parts"].get(n)
            if have is None or have[0].strip('"') != etag.strip('"'):
                raise XmlError(HTTPStatus.BAD_REQUEST, "InvalidPart", f"part {n} was not uploaded as given")
            if i < len(wanted) - 1 and len(have[1]) < MIN_PART:
                raise XmlError(
                    HTTPStatus.BAD_REQUEST,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                )
            chunks.append(have[1])
        obj = self.store(b"".join(chunks), up["headers"])
        del UPLOADS[self.query["uploadId"]]
        self.reply(
            HTTPStatus.OK,
            "{}<CompleteMultipartUploadResult><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key>"
            "<ETag>{}</ETag></CompleteMultipartUploadResult>".format(
                XML_DECL,
                escape("{}/{}/{}".format(self.base_url(), self.bucket, self.object)),
                escape(self.bucket),
                escape(self.object),
                escape(obj_etag(obj)),
            ),
            headers={"x-goog-generation": obj["generation"]},
        )

    def multipart_abort(self):
        self.upload()
        del UPLOADS[self.query["uploadId"]]
        self.reply(HTTPStatus.NO_CONTENT)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--default-bucket", action="append", default=[])
    p.add_argument("--quiet", action="store_true", help="log only errors")
    args = p.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.ERROR if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    storage = Storage(use_memory_fs=True)
    for bucket in args.default_bucket:
        emulator_buckets.create_bucket(bucket, storage)
    httpd = ThreadingHTTPServer((args.host, args.port), partial(Handler, storage))
    httpd.daemon_threads = True
    log.info("gcp-storage-emulator with the XML API on http://%s:%d", args.host, args.port)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
