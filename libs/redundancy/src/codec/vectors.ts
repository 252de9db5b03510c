/**
 * Fixed codec vectors. `generated`: inputs from vectorBlock(seed, i, length) (seed = k*1000+n; the
 * SHA-256 of block 0 pins the generator), expected parity written out (hex, or the SHA-256 of each
 * parity block for the larger ones). They were produced by the reference codec once and are checked
 * here against the published vectors below and against the SIMD kernel (a different multiplication
 * method); they must never change: blocks on disk depend on them.
 */
export interface GeneratedVector {
  k: number;
  n: number;
  length: number;
  seed: number;
  /** SHA-256 (hex) of data block 0. */
  dataSha256: string;
  parityHex?: string[];
  paritySha256?: string[];
}

export const generatedVectors: GeneratedVector[] = [
  {
    "k": 2,
    "n": 3,
    "length": 16,
    "seed": 2003,
    "parityHex": [
      "133aba791e9d7c85532be1b3620a9e97"
    ],
    "dataSha256": "5486f888aab740251fb7aeda954dce5048ca37af0f7fdda31cc424c987a186d9"
  },
  {
    "k": 4,
    "n": 6,
    "length": 64,
    "seed": 4006,
    "parityHex": [
      "97664135604755a0d5c08bd099b7a0ff00e8d06539ad98322d389d4e8ed70105940bf747fb49536a857be86d7be6d87dad87e0214d71b06b7de5e5b8dcba9b51",
      "0c055128a7ca5bf61672e39ac28982df51dd00ba4488d76b6232f407d3302101d33f9b5713344201d7959cd545676f174039ba4c797728b0c17abd38530e891c"
    ],
    "dataSha256": "c88c295e28b71ad09c483ee6725f862915e817a712efb6cdfa959af7d2f99b28"
  },
  {
    "k": 2,
    "n": 5,
    "length": 37,
    "seed": 2005,
    "parityHex": [
      "47d17b0474dd865bb2990667f8f7ded30e4dc158ef3d4205cd2564df1c48883a535820b18e",
      "0f478c1c03358f68ddef284f6ff74a708eac2452e2d20938aa7cc22fc0bd4a17bfb66fbf9f",
      "ea8273545b97b0f1cdb0e297adf7813e2931a564c165e58b82ee97c5ee4c3ed401069f95e8"
    ],
    "dataSha256": "3aeae7adf1027a24024fa1687ac2af0b31d81a84fb731fca4356490fe810dd2d"
  },
  {
    "k": 6,
    "n": 9,
    "length": 1000,
    "seed": 6009,
    "paritySha256": [
      "114afc55b4b040ea9ad6bc186b8c695ba51a4192cad4a2cbd8e7d5a31af74825",
      "d67f776ec4e955c27053d097db90e2f9d1f0567524b98331962ac462636f9a6e",
      "d41bcaed268bda193402efc6ee9d4220ed2c710cbe3eec3d481bf874a40cf3ce"
    ],
    "dataSha256": "53a35f9734aef8ca10798ed10b8d9bfad96b1407fab8d65b1db826349fc58b00"
  },
  {
    "k": 10,
    "n": 14,
    "length": 4096,
    "seed": 10014,
    "paritySha256": [
      "f4542a4cbedf9b36ab066f81de91e647dbe357c1ab6b7bba74d32a681fad1a9c",
      "42211958847167072785fcef3ed3c12f4a3a218e3e7db2434a50a71fbd1f0d55",
      "33ff13d9b54dc656a36735737362ee405c595ecd34273afa88d56752dbf03789",
      "e94826925622214c2ccbcf9cda28612c157d5b631c7aebbe73363c8dea8facc9"
    ],
    "dataSha256": "f6c42e4c849c7d0d30deebd3bbe8fb852e080cc3a265ac7b6cc4f0803ba8f3de"
  },
  {
    "k": 17,
    "n": 20,
    "length": 65537,
    "seed": 17020,
    "paritySha256": [
      "bb9897fa74b2571268f8c38dad14e6e6b98c3d853505cb8160e2f269a88c92bf",
      "d9a8283a4bbbe14b7cfd79e92dfd2ba876a7b7c8f415023770cfad8a8ecfb6f5",
      "ca76f4228a98d2486f40c9ff309bea814b62a78de996f7161bbcfa7f57c1bb7a"
    ],
    "dataSha256": "27144de44c828b2df0c680b6c698cebaccf6360cf3c7872c3fd9a2a887a23ab3"
  },
  {
    "k": 4,
    "n": 6,
    "length": 1048576,
    "seed": 4006,
    "paritySha256": [
      "977a17fcdf0ea300a903c06fa2681376fe2ff08987bb856e09a56b30e87d47eb",
      "b0821d2af74c57c5dfa12865b2811ae89fa96fb097563fe652861a54e9201735"
    ],
    "dataSha256": "ad062b708b4277e2df4461f732420253fd9c58ea736cef6996f274b662ecf9dc"
  },
  {
    "k": 2,
    "n": 3,
    "length": 5242880,
    "seed": 2003,
    "paritySha256": [
      "0c7047ca95f61276a0b8a2bfc887dd0127b44b376954b839825a16a46b885ad4"
    ],
    "dataSha256": "839619ee020264c94ee0f46eedfd9bd03262cbc6abae33eb39aab0e3492107cd"
  }
];

/**
 * Backblaze JavaReedSolomon, ReedSolomonTest.testOneEncode (also klauspost/reedsolomon's and the
 * Rust reed-solomon-erasure crate's ports): 5 data + 5 parity shards of 2 bytes.
 */
export const backblazeOneEncode = {
  k: 5,
  n: 10,
  data: [[0, 1], [4, 5], [2, 3], [6, 7], [8, 9]],
  parity: [[12, 13], [10, 11], [14, 15], [90, 91], [94, 95]],
};

/** klauspost/reedsolomon galois_test.go (testGalois) and Backblaze GaloisTest: products and powers. */
export const klauspostGalois = {
  mul: [[3, 4, 12], [7, 7, 21], [23, 45, 41]],
  exp: [[2, 2, 4], [5, 20, 235], [13, 7, 43]],
  mulSliceInput: [0, 1, 2, 3, 4, 5, 6, 10, 50, 100, 150, 174, 201, 255, 99, 32, 67, 85],
  mulSlice: {
    25: [0x0, 0x19, 0x32, 0x2b, 0x64, 0x7d, 0x56, 0xfa, 0xb8, 0x6d, 0xc7, 0x85, 0xc3, 0x1f, 0x22, 0x7, 0x25, 0xfe],
    177: [0x0, 0xb1, 0x7f, 0xce, 0xfe, 0x4f, 0x81, 0x9e, 0x3, 0x6, 0xe8, 0x75, 0xbd, 0x40, 0x36, 0xa3, 0x95, 0xcb],
  } as Record<number, number[]>,
};

/** klauspost/reedsolomon matrix_test.go (TestMatrixInverse) and Backblaze MatrixTest: inverses over GF(2^8). */
export const klauspostInverses: Array<{ matrix: number[][]; inverse: number[][] }> = [
  { matrix: [[56, 23, 98], [3, 100, 200], [45, 201, 123]], inverse: [[175, 133, 33], [130, 13, 245], [112, 35, 126]] },
  { matrix: [[0, 23, 98], [3, 100, 200], [45, 201, 123]], inverse: [[245, 128, 152], [188, 64, 135], [231, 81, 239]] },
  {
    matrix: [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [7, 7, 6, 6, 1]],
    inverse: [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [123, 123, 1, 122, 122], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]],
  },
];
