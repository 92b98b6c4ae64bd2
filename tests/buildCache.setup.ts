import { setupBuildCache } from "./buildCache";

export default setupBuildCache;
