"""S3's checksum behaviour where moto 5.2 differs from S3, for the local cloud's moto_server.

Installed by moto_launcher.py after it has made moto's `compute_checksum` compute real CRC64NVME and CRC32C.
docs/local-cloud.md ("Checksums: S3 as it is, and the local cloud") says what S3 does, with sources, and what is
unconfirmed. In short, moto 5.2:

- stored whatever checksum a client claimed without checking it (S3 answers BadDigest);
- gave objects uploaded without a checksum none (S3 adds a full-object CRC64NVME, multipart uploads included);
- copied a multipart source's COMPOSITE checksum value onto a CopyObject copy without its type, so a GetObject of the
  copy (ChecksumMode ENABLED, the SDK's default) carried a bare `x-amz-checksum-crc32` of the parts and the SDK's
  response validation failed ("Checksum mismatch ... x-amz-checksum-crc32"). S3 gives the copy a full-object checksum;
- answered HeadObject with a composite value without its `-N` suffix or `x-amz-checksum-type`, and leaked the upload's
  `x-amz-checksum-algorithm`/`-type` request headers into every later GetObject/HeadObject as object metadata;
- returned no checksum from UploadPart (unless the client sent one), UploadPartCopy, ListParts or
  CompleteMultipartUpload, and checked none of CompleteMultipartUpload's part or full-object checksums;
- ignored `x-amz-copy-source-if-match`, and answered a copy of an unrestored Glacier-class source with
  ObjectNotInActiveTierError where S3 says InvalidObjectState.
"""
from __future__ import annotations

import base64
import re
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlparse

import xmltodict
from moto.s3 import utils as s3_utils
from moto.s3.exceptions import MissingKey, S3ClientError
from moto.s3.models import FakeKey, FakeMultipart, S3Backend
from moto.s3.responses import S3Response
from moto.s3.utils import ARCHIVE_STORAGE_CLASSES
from moto.utilities.utils import CaseInsensitiveDict

SUPPORTED = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
DEFAULT_ALGORITHM = "CRC64NVME"
# Request headers of CreateMultipartUpload that moto keeps as object metadata; S3 does not return them as such.
_NOT_METADATA = {"x-amz-checksum-algorithm", "x-amz-checksum-type"}

# moto finds an error's service model (and its HTTP status) from the module its class lives in: these errors are S3's.
_S3_ERRORS_MODULE = "moto.s3.exceptions"


class BadDigest(S3ClientError):
    __module__ = _S3_ERRORS_MODULE
    code = "BadDigest"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ChecksumRequestError(S3ClientError):
    __module__ = _S3_ERRORS_MODULE
    code = "InvalidRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidPartChecksum(S3ClientError):
    __module__ = _S3_ERRORS_MODULE
    code = "InvalidPart"

    def __init__(self) -> None:
        super().__init__(
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the "
            "specified entity tag may not match the part's entity tag."
        )


class SourcePreconditionFailed(S3ClientError):
    __module__ = _S3_ERRORS_MODULE
    code = "PreconditionFailed"

    def __init__(self, condition: str) -> None:
        super().__init__("At least one of the pre-conditions you specified did not hold")
        self.condition = condition


class SourceInvalidObjectState(S3ClientError):
    __module__ = _S3_ERRORS_MODULE
    code = "InvalidObjectState"

    def __init__(self, storage_class: str | None) -> None:
        super().__init__("Operation is not valid for the source object's storage class")
        self.storage_class = storage_class


def checksum_b64(data: bytes, algorithm: str) -> str:
    # Looked up at call time: moto_launcher.py rebinds compute_checksum before anything here runs.
    return s3_utils.compute_checksum(data, algorithm).decode("ascii")


def qualified(key: FakeKey) -> str:
    """The value S3 reports for an object: a composite checksum carries its part count."""
    if key.checksum_type == "COMPOSITE" and key.checksum_parts:
        return f"{key.checksum_value}-{key.checksum_parts}"
    return str(key.checksum_value)


def set_full_object(key: FakeKey, algorithm: str, value: str) -> None:
    key.checksum_algorithm = algorithm
    key.checksum_value = value
    key.checksum_type = "FULL_OBJECT"
    key.checksum_parts = None


def mpu_algorithm(multipart: FakeMultipart) -> str | None:
    """The algorithm CreateMultipartUpload named, if any (without one, S3 still computes a CRC64NVME)."""
    value = multipart.metadata.get("x-amz-checksum-algorithm")
    return value.upper() if value else None


def mpu_type(multipart: FakeMultipart) -> str:
    value = multipart.metadata.get("x-amz-checksum-type")
    if value:
        return value.upper()
    return "FULL_OBJECT" if mpu_algorithm(multipart) in (None, "CRC64NVME") else "COMPOSITE"


def _drop_checksum_headers(headers: dict[str, Any]) -> None:
    for name in [h for h in headers if isinstance(h, str) and h.lower().startswith("x-amz-checksum-")]:
        del headers[name]


def _report(headers: dict[str, Any], key: FakeKey | None) -> None:
    """HeadObject/GetObject with ChecksumMode ENABLED: the stored checksum as S3 reports it."""
    if key is not None and key.checksum_algorithm and key.checksum_value:
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = qualified(key)
        headers["x-amz-checksum-type"] = key.checksum_type or "FULL_OBJECT"


def claimed_checksum(response: S3Response) -> tuple[str | None, str | None]:
    """The algorithm and value a PutObject/UploadPart request claims: a header, or a trailer after aws-chunked data."""
    headers = response.headers
    for algorithm in SUPPORTED:
        value = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value:
            return algorithm, value
    trailer = (headers.get("x-amz-trailer") or "").strip().lower()
    if trailer.startswith("x-amz-checksum-"):
        algorithm = trailer[len("x-amz-checksum-") :].upper()
        raw = response.raw_body if isinstance(response.raw_body, bytes) else b""
        # The trailer follows the last (zero-length) chunk: look only there, never in the data.
        found = re.search(rb"x-amz-checksum-" + algorithm.lower().encode() + rb"\s*:\s*([A-Za-z0-9+/=]+)", raw[-512:])
        return algorithm, found.group(1).decode("ascii") if found else None
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    return (sdk.upper(), None) if sdk else (None, None)


def _verify(body: bytes, algorithm: str | None, claimed: str | None) -> str | None:
    """S3 computes the checksum itself and refuses a request whose claimed one differs."""
    if algorithm not in SUPPORTED:
        return None
    actual = checksum_b64(body, algorithm)
    if claimed and claimed != actual:
        raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return actual


def _source(response: S3Response) -> FakeKey | None:
    """The source object of CopyObject/UploadPartCopy, parsed as moto parses it."""
    copy_source = response.headers.get("x-amz-copy-source")
    if not copy_source:
        return None
    if isinstance(copy_source, bytes):
        copy_source = copy_source.decode("utf-8")
    parsed = urlparse(copy_source)
    try:
        bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
    except ValueError:
        return None
    version_id = parse_qs(parsed.query).get("versionId", [None])[0]
    try:
        return response.backend.get_object(bucket, key, version_id=version_id)
    except S3ClientError:
        return None


def _check_source(response: S3Response) -> None:
    source = _source(response)
    if source is None:
        return  # moto answers NoSuchKey/NoSuchBucket as before
    if_match = response.headers.get("x-amz-copy-source-if-match")
    if if_match and if_match.strip('"') != source.etag.strip('"'):
        raise SourcePreconditionFailed("x-amz-copy-source-If-Match")
    if source.storage_class in ARCHIVE_STORAGE_CLASSES and 'ongoing-request="false"' not in (
        source.response_dict.get("x-amz-restore") or ""
    ):
        raise SourceInvalidObjectState(source.storage_class)


def _multipart(response: S3Response, upload_id: str | None) -> FakeMultipart | None:
    try:
        return response.backend.get_bucket(response.bucket_name).multiparts.get(upload_id)
    except S3ClientError:
        return None


def _with_result_fix(response: S3Response, fix: Callable[[dict[str, Any]], None], call: Callable[[], Any]) -> Any:
    """Runs a moto handler; `fix` amends the result dict it serializes (see the `serialized` hook below)."""
    response._local_result_fix = fix  # type: ignore[attr-defined]
    try:
        return call()
    finally:
        response._local_result_fix = None  # type: ignore[attr-defined]


def _parts_of(body: bytes) -> list[dict[str, Any]]:
    try:
        document = xmltodict.parse(body)
    except Exception:  # noqa: BLE001 - moto reports the malformed body itself
        return []
    parts = (document.get("CompleteMultipartUpload") or {}).get("Part") or []
    return parts if isinstance(parts, list) else [parts]


def _validate_create(response: S3Response) -> None:
    """CreateMultipartUpload: the algorithm/type combinations S3 refuses (messages as S3 words them)."""
    algorithm = (response.headers.get("x-amz-checksum-algorithm") or "").upper()
    checksum_type = (response.headers.get("x-amz-checksum-type") or "").upper()
    if not checksum_type:
        return
    if checksum_type not in ("COMPOSITE", "FULL_OBJECT"):
        raise ChecksumRequestError("Value for x-amz-checksum-type header is invalid.")
    if not algorithm:
        raise ChecksumRequestError("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
    if checksum_type == "FULL_OBJECT" and algorithm in ("SHA1", "SHA256"):
        raise ChecksumRequestError(f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} checksum algorithm.")
    if checksum_type == "COMPOSITE" and algorithm == "CRC64NVME":
        raise ChecksumRequestError("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")


def _validate_complete(response: S3Response, multipart: FakeMultipart, body: bytes) -> None:
    """CompleteMultipartUpload: part checksums, the checksum type and size headers, the full-object checksum."""
    algorithm = mpu_algorithm(multipart)
    checksum_type = mpu_type(multipart)
    listed = _parts_of(body)
    member = f"Checksum{algorithm}" if algorithm else None
    for entry in listed:
        try:
            number = int(entry.get("PartNumber"))
        except (TypeError, ValueError):
            continue
        stored = multipart.parts.get(number)
        given = entry.get(member) if member else None
        if algorithm and checksum_type == "COMPOSITE" and not given:
            raise ChecksumRequestError(
                f"The upload was created using a {algorithm.lower()} checksum. The complete request must include the "
                f"checksum for each part. It was missing for part {number} in the request."
            )
        own = getattr(stored, "_local_checksum", None) if stored is not None else None
        if given and own and own[0] == algorithm and given != own[1]:
            raise InvalidPartChecksum()

    headers = response.headers
    asked_type = (headers.get("x-amz-checksum-type") or "").upper()
    if asked_type and asked_type != checksum_type:
        raise BadDigest(f"The checksum type {asked_type} does not match the upload's checksum type {checksum_type}.")
    numbers = []
    for entry in listed:
        try:
            numbers.append(int(entry.get("PartNumber")))
        except (TypeError, ValueError):
            pass
    parts = [multipart.parts[n] for n in numbers if n in multipart.parts]
    size = headers.get("x-amz-mp-object-size")
    if size is not None and len(parts) == len(numbers):
        actual_size = sum(p.size for p in parts)
        if str(actual_size) != str(size).strip():
            raise ChecksumRequestError(
                f"The provided 'x-amz-mp-object-size' header value {size} does not match what was computed: {actual_size}"
            )
    claimed_algorithm, claimed = next(
        ((a, headers.get(f"x-amz-checksum-{a.lower()}")) for a in SUPPORTED if headers.get(f"x-amz-checksum-{a.lower()}")),
        (None, None),
    )
    if not claimed or len(parts) != len(numbers):
        return
    effective = algorithm or DEFAULT_ALGORITHM
    if claimed_algorithm != effective:
        raise ChecksumRequestError(
            f"Checksum Type mismatch occurred, expected checksum Type: {effective.lower()}, "
            f"actual checksum Type: {claimed_algorithm.lower()}"
        )
    if checksum_type == "COMPOSITE":
        digests = b"".join(base64.b64decode(getattr(p, "_local_checksum")[1]) for p in parts)
        expected = checksum_b64(digests, effective)
        claimed = claimed.split("-")[0]
    else:
        expected = checksum_b64(b"".join(p.value for p in parts), effective)
    if claimed != expected:
        raise BadDigest(f"The {effective} you specified did not match the calculated checksum.")


def install() -> None:
    orig_set_metadata = FakeKey.set_metadata

    def set_metadata(self: FakeKey, metadata: Any, replace: bool = False) -> None:
        if metadata and any(isinstance(k, str) and k.lower() in _NOT_METADATA for k in metadata.keys()):
            metadata = CaseInsensitiveDict({k: v for k, v in metadata.items() if not (isinstance(k, str) and k.lower() in _NOT_METADATA)})
        orig_set_metadata(self, metadata, replace)

    FakeKey.set_metadata = set_metadata  # type: ignore[method-assign]

    orig_set_part = FakeMultipart.set_part

    def set_part(self: FakeMultipart, part_id: int, value: bytes) -> FakeKey:
        part = orig_set_part(self, part_id, value)
        algorithm = mpu_algorithm(self) or DEFAULT_ALGORITHM
        # S3 computes every part's checksum in the upload's algorithm (CRC64NVME when none was named).
        part._local_checksum = (algorithm, checksum_b64(value, algorithm))  # type: ignore[attr-defined]
        return part

    FakeMultipart.set_part = set_part  # type: ignore[method-assign]

    orig_copy_object_backend = S3Backend.copy_object

    def copy_object_backend(self: S3Backend, src_key: FakeKey, dest_bucket_name: str, dest_key_name: str, *args: Any, **kwargs: Any) -> None:
        orig_copy_object_backend(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs)
        copied = self.get_object(dest_bucket_name, dest_key_name)
        if copied is not None:
            # A copy is one write, so its checksum is a direct full-object one (in the source's algorithm unless the
            # request names another, which moto's handler then applies), never the source's composite value.
            algorithm = src_key.checksum_algorithm if src_key.checksum_algorithm in SUPPORTED else DEFAULT_ALGORITHM
            set_full_object(copied, algorithm, checksum_b64(copied.value, algorithm))

    S3Backend.copy_object = copy_object_backend  # type: ignore[method-assign]

    orig_serialized = S3Response.serialized

    def serialized(self: S3Response, action_result: Any) -> Any:
        fix = getattr(self, "_local_result_fix", None)
        if fix is not None and isinstance(action_result.result, dict):
            fix(action_result.result)
        return orig_serialized(self, action_result)

    S3Response.serialized = serialized  # type: ignore[method-assign]

    orig_put_object = S3Response.put_object

    def put_object(self: S3Response) -> Any:
        algorithm, claimed = claimed_checksum(self)
        body = self.body or b""
        actual = _verify(body, algorithm, claimed)
        status, headers, content = orig_put_object(self)
        if status != 200:
            return status, headers, content
        key = self.backend.get_object(self.bucket_name, self.parse_key_name(), version_id=headers.get("x-amz-version-id"))
        if key is not None:
            if actual is None:
                # No checksum asked for: S3 adds a CRC64NVME (its default since December 2024).
                algorithm, actual = DEFAULT_ALGORITHM, checksum_b64(body, DEFAULT_ALGORITHM)
            set_full_object(key, str(algorithm), actual)
            _drop_checksum_headers(headers)
            headers[f"x-amz-checksum-{str(algorithm).lower()}"] = actual
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        return status, headers, content

    S3Response.put_object = put_object  # type: ignore[method-assign]

    orig_upload_part = S3Response.upload_part

    def upload_part(self: S3Response) -> Any:
        algorithm, claimed = claimed_checksum(self)
        _verify(self.body or b"", algorithm, claimed)
        multipart = _multipart(self, self._get_param("uploadId"))
        status, headers, content = orig_upload_part(self)
        if status == 200 and multipart is not None:
            part = multipart.parts.get(self._get_int_param("partNumber"))
            own = getattr(part, "_local_checksum", None)
            if own and mpu_algorithm(multipart):
                headers[f"x-amz-checksum-{own[0].lower()}"] = own[1]
        return status, headers, content

    S3Response.upload_part = upload_part  # type: ignore[method-assign]

    orig_upload_part_copy = S3Response.upload_part_copy

    def upload_part_copy(self: S3Response) -> Any:
        _check_source(self)
        multipart = _multipart(self, self._get_param("uploadId"))
        part_number = self._get_int_param("partNumber")

        def fix(result: dict[str, Any]) -> None:
            part = multipart.parts.get(part_number) if multipart is not None else None
            own = getattr(part, "_local_checksum", None)
            if own and multipart is not None and mpu_algorithm(multipart) and isinstance(result.get("CopyPartResult"), dict):
                result["CopyPartResult"][f"Checksum{own[0]}"] = own[1]

        return _with_result_fix(self, fix, lambda: orig_upload_part_copy(self))

    S3Response.upload_part_copy = upload_part_copy  # type: ignore[method-assign]

    orig_copy_object = S3Response.copy_object

    def copy_object(self: S3Response) -> Any:
        _check_source(self)

        def fix(result: dict[str, Any]) -> None:
            copied = result.get("CopyObjectResult")
            if isinstance(copied, dict) and any(k.startswith("Checksum") for k in copied):
                copied["ChecksumType"] = "FULL_OBJECT"

        status, headers, content = _with_result_fix(self, fix, lambda: orig_copy_object(self))
        headers.pop("Checksum", None)  # moto also puts its result dict into a header of that name
        return status, headers, content

    S3Response.copy_object = copy_object  # type: ignore[method-assign]

    orig_list_parts = S3Response.list_parts

    def list_parts(self: S3Response) -> Any:
        multipart = _multipart(self, self._get_param("uploadId"))

        def fix(result: dict[str, Any]) -> None:
            algorithm = mpu_algorithm(multipart) if multipart is not None else None
            if multipart is None or not algorithm:
                return
            for entry in result.get("Parts") or []:
                own = getattr(multipart.parts.get(entry.get("PartNumber")), "_local_checksum", None)
                if own:
                    entry[f"Checksum{own[0]}"] = own[1]
            result["ChecksumAlgorithm"] = algorithm
            result["ChecksumType"] = mpu_type(multipart)

        return _with_result_fix(self, fix, lambda: orig_list_parts(self))

    S3Response.list_parts = list_parts  # type: ignore[method-assign]

    orig_key_response_post = S3Response._key_response_post

    def key_response_post(self: S3Response, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        if body == b"" and "uploads" in query:
            _validate_create(self)
            return orig_key_response_post(self, request, body, bucket_name, query, key_name)
        if query.get("uploadId") and "restore" not in query:
            multipart = _multipart(self, query["uploadId"][0])
            if multipart is not None:
                _validate_complete(self, multipart, body)

            def fix(result: dict[str, Any]) -> None:
                key = self.backend.get_object(bucket_name, key_name)
                if key is None or not key.checksum_value:
                    return
                if key.checksum_algorithm is None:
                    # moto computed S3's default (a full-object CRC64NVME) but did not name it.
                    key.checksum_algorithm = DEFAULT_ALGORITHM
                result[f"Checksum{key.checksum_algorithm}"] = qualified(key)
                result["ChecksumType"] = key.checksum_type or "FULL_OBJECT"

            return _with_result_fix(self, fix, lambda: orig_key_response_post(self, request, body, bucket_name, query, key_name))
        return orig_key_response_post(self, request, body, bucket_name, query, key_name)

    S3Response._key_response_post = key_response_post  # type: ignore[method-assign]

    orig_head_object = S3Response.head_object

    def head_object(self: S3Response, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
        status, response_headers, content = orig_head_object(self, bucket_name, query, key_name, headers)
        if status == 200 and not query.get("partNumber"):
            _drop_checksum_headers(response_headers)
            if headers.get("x-amz-checksum-mode") == "ENABLED":
                version_id = query.get("versionId", [None])[0]
                _report(response_headers, self.backend.get_object(bucket_name, key_name, version_id=version_id))
        return status, response_headers, content

    S3Response.head_object = head_object  # type: ignore[method-assign]

    orig_get_object = S3Response.get_object

    def get_object(self: S3Response) -> Any:
        status, headers, content = orig_get_object(self)
        if status == 200 and not self._get_int_param("partNumber"):
            _drop_checksum_headers(headers)
            if self.headers.get("x-amz-checksum-mode") == "ENABLED":
                version_id = self.querystring.get("versionId", [None])[0]
                try:
                    _report(headers, self.backend.get_object(self.bucket_name, self.parse_key_name(), version_id=version_id))
                except MissingKey:
                    pass
        return status, headers, content

    S3Response.get_object = get_object  # type: ignore[method-assign]
