// Owned by the s3-multipart branch: registers CreateMultipartUpload, UploadPart, UploadPartCopy,
// CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads with
// registerS3Operations (keys: 'object POST uploads', 'object PUT uploadId', 'object POST uploadId',
// 'object DELETE uploadId', 'object GET uploadId', 'bucket GET uploads'). Until then they answer
// NotImplemented (router.ts).
export {};
