// `express4` is `npm:express@4`, installed beside Express 5 so the suite runs on both; its API matches for our use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
