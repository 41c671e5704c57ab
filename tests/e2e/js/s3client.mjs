// A tenant's S3 client on the AWS SDK for JavaScript v3, at its default settings, for the
// end-to-end tests (tests/e2e/test_js_sdk.py).
//
//   node s3client.mjs mb BUCKET
//   node s3client.mjs put BUCKET KEY FILE              PutObject, the file's bytes as a Buffer
//   node s3client.mjs put-stream BUCKET KEY FILE       PutObject, the file as a read stream
//   node s3client.mjs upload BUCKET KEY FILE PART_MIB  lib-storage Upload (multipart past a part)
//   node s3client.mjs get BUCKET KEY OUT_FILE          GetObject, checksum mode enabled
//   node s3client.mjs head BUCKET KEY                  HeadObject, checksum mode enabled
//   node s3client.mjs ls BUCKET [PREFIX]               ListObjectsV2, every page
//   node s3client.mjs rm BUCKET KEY...                 DeleteObjects
//   node s3client.mjs rb BUCKET                        DeleteBucket
//
// The endpoint comes from S3_ENDPOINT, credentials and region from the SDK's usual environment
// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), a private CA from
// NODE_EXTRA_CA_CERTS, as a tenant would set them. Prints one JSON document on stdout:
// {"result": ..., "sent": [...]}, where `sent` lists each HTTP request as the SDK finished it
// (signed headers included), or {"error": ...} with exit status 1.
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const sent = [];
const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  // A custom endpoint on an IP address has no bucket subdomains.
  forcePathStyle: true,
  // One attempt: a retry would hide a first answer that was wrong.
  maxAttempts: 1,
});
// Last in the finalize step, after signing and the checksum middleware: what goes on the wire.
client.middlewareStack.add(
  (next) => async (args) => {
    const { method, path, query, headers } = args.request;
    sent.push({ method, path, query, headers: { ...headers } });
    return next(args);
  },
  { step: "finalizeRequest", priority: "low", name: "recordSent" },
);

function checksums(output) {
  const picked = {};
  for (const [name, value] of Object.entries(output)) {
    if (name.startsWith("Checksum") || ["ETag", "ContentLength", "VersionId"].includes(name)) {
      picked[name] = value;
    }
  }
  return picked;
}

const commands = {
  async mb(bucket) {
    const out = await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return { Location: out.Location ?? null };
  },
  async put(bucket, key, file) {
    const out = await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file) }),
    );
    return checksums(out);
  },
  async "put-stream"(bucket, key, file) {
    const out = await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file) }),
    );
    return checksums(out);
  },
  async upload(bucket, key, file, partMiB) {
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: createReadStream(file) },
      partSize: Number(partMiB) * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const out = await upload.done();
    return checksums(out);
  },
  async get(bucket, key, outFile) {
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
    );
    writeFileSync(outFile, await out.Body.transformToByteArray());
    return checksums(out);
  },
  async head(bucket, key) {
    const out = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
    );
    return checksums(out);
  },
  async ls(bucket, prefix) {
    const objects = [];
    let token;
    do {
      const out = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) objects.push({ Key: o.Key, Size: o.Size });
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return objects;
  },
  async rm(bucket, ...keys) {
    const out = await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })) },
      }),
    );
    return { Deleted: (out.Deleted ?? []).map((d) => d.Key), Errors: out.Errors ?? [] };
  },
  async rb(bucket) {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    return {};
  },
};

const [name, ...args] = process.argv.slice(2);
if (!(name in commands)) {
  console.error(`unknown command ${name}; one of ${Object.keys(commands).join(", ")}`);
  process.exit(2);
}
try {
  const result = await commands[name](...args);
  console.log(JSON.stringify({ result, sent }));
} catch (e) {
  const error = {
    name: e.name,
    message: e.message,
    status: e.$metadata?.httpStatusCode ?? null,
    code: e.Code ?? null,
  };
  console.log(JSON.stringify({ error, sent }));
  process.exitCode = 1;
}
