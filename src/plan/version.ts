/** The plan format's version, apart from the zod schema so that compiling a script does not load zod. */
export const PLAN_VERSION = 1 as const;
